package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// testPorts are loopback addresses for every listener of a test server.
type testPorts struct {
	api, dhcp, tftp, http, https string
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newTestPorts(t *testing.T) testPorts {
	return testPorts{api: freePort(t, "tcp"), dhcp: freePort(t, "udp"), tftp: freePort(t, "udp"), http: freePort(t, "tcp"), https: freePort(t, "tcp")}
}

func testConfig(t *testing.T, dataDir string, p testPorts) Config {
	t.Helper()
	cfg := Defaults()
	cfg.DataDir = dataDir
	cfg.API.Addr = p.api
	cfg.DHCP.Addr = p.dhcp
	cfg.Boot.TFTPAddr, cfg.Boot.HTTPAddr, cfg.Boot.HTTPSAddr = p.tftp, p.http, p.https
	return cfg
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// hold binds addr so that podboot cannot.
func hold(t *testing.T, network, addr string) {
	t.Helper()
	c, err := bind(network, addr)
	if err != nil {
		t.Fatalf("hold %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
}

// canBind reports whether addr can be bound now (and releases it again).
func canBind(network, addr string) error {
	c, err := bind(network, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// bind binds addr: a UDP socket for network "udp", else a TCP listener.
func bind(network, addr string) (io.Closer, error) {
	if network == "udp" {
		return net.ListenPacket("udp4", addr)
	}
	return net.Listen("tcp4", addr)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open files: %v", err)
	}
	return len(ents)
}

// TestFailedOpenReleasesWhatItOpened makes each later start-up step fail and checks that
// the listeners bound before it can be bound again in this process, the data dir is
// unlocked, and no file descriptor (socket, artifact store, database) stays open.
func TestFailedOpenReleasesWhatItOpened(t *testing.T) {
	cases := []struct {
		name      string
		busy      func(testPorts) (network, addr string)
		breakCfg  func(*Config)
		wantInErr string
	}{
		{name: "dhcp address in use", busy: func(p testPorts) (string, string) { return "udp", p.dhcp }, wantInErr: "dhcp"},
		{name: "tftp address in use", busy: func(p testPorts) (string, string) { return "udp", p.tftp }, wantInErr: "listen tftp"},
		{name: "http address in use", busy: func(p testPorts) (string, string) { return "tcp", p.http }, wantInErr: "listen http"},
		{name: "https address in use", busy: func(p testPorts) (string, string) { return "tcp", p.https }, wantInErr: "https"},
		{name: "image push root CA missing", breakCfg: func(c *Config) { c.Images.RootCA = "/nonexistent/ca.pem" }, wantInErr: "image push"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ports := newTestPorts(t)
			dataDir := t.TempDir()
			cfg := testConfig(t, dataDir, ports)
			busy := ""
			if tc.busy != nil {
				var network string
				network, busy = tc.busy(ports)
				hold(t, network, busy)
			}
			if tc.breakCfg != nil {
				tc.breakCfg(&cfg)
			}
			before := openFDs(t)
			s, err := Open(context.Background(), cfg, discardLog(), "test")
			if err == nil {
				t.Fatalf("Open succeeded (%v), want a failure", s.APIAddr())
			}
			if !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantInErr)
			}
			for _, l := range []struct{ network, addr string }{
				{"tcp", ports.api}, {"udp", ports.dhcp}, {"udp", ports.tftp}, {"tcp", ports.http}, {"tcp", ports.https},
			} {
				if l.addr == busy {
					continue
				}
				if err := canBind(l.network, l.addr); err != nil {
					t.Errorf("%s %s still bound after the failed start: %v", l.network, l.addr, err)
				}
			}
			if after := openFDs(t); after != before {
				t.Errorf("%d file descriptors open before Open, %d after it failed", before, after)
			}
			st, err := podmgr.OpenBolt(filepath.Join(dataDir, DBFile))
			if err != nil {
				t.Fatalf("data dir still locked after the failed start: %v", err)
			}
			st.Close()
		})
	}
}

// TestRunReleasesEverything serves, stops, and checks that nothing stays open.
func TestRunReleasesEverything(t *testing.T) {
	ports := newTestPorts(t)
	cfg := testConfig(t, t.TempDir(), ports)
	before := openFDs(t)
	s, err := Open(context.Background(), cfg, discardLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready:
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run not ready within 30s")
	}
	// Stopped at once: the boot service closes its TFTP socket even when pin/tftp's
	// Serve has not taken it yet.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not stop within 60s")
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d file descriptors open before Open, %d after Run returned", before, after)
	}
	for _, l := range []struct{ network, addr string }{{"tcp", ports.api}, {"udp", ports.dhcp}, {"udp", ports.tftp}, {"tcp", ports.http}, {"tcp", ports.https}} {
		if err := canBind(l.network, l.addr); err != nil {
			t.Errorf("%s %s still bound after Run: %v (ports %+v)", l.network, l.addr, err, ports)
		}
	}
}
