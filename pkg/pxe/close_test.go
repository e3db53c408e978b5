package pxe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// newBareService is a boot service on 127.0.0.1 ports (TFTP, HTTP, and HTTPS with a
// TLS config that picks a self-signed certificate per handshake) over an empty store.
// Nothing serves it; the test closes it.
func newBareService(t *testing.T, tweak func(*Config)) (*Service, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mgr, err := podmgr.Open(context.Background(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	tlsCfg, pool := selfSignedTLS(t)
	cfg := Config{TFTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", TLSConfig: tlsCfg}
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := New(cfg, mgr, as, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc, pool
}

// selfSignedTLS is a TLS config that hands out selfSigned's certificate through
// GetCertificate, and a pool that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	certFile, keyFile := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	return &tls.Config{GetCertificate: get, MinVersion: tls.VersionTLS12}, pool
}

type boundAddr struct{ network, addr string }

// bound is every address svc listens on.
func bound(svc *Service) []boundAddr {
	return []boundAddr{{"udp", svc.TFTPAddr().String()}, {"tcp", svc.HTTPAddr().String()}, {"tcp", svc.HTTPSAddr().String()}}
}

// requireReleased binds each address again (and lets it go).
func requireReleased(t *testing.T, addrs []boundAddr) {
	t.Helper()
	for _, a := range addrs {
		var c io.Closer
		var err error
		if a.network == "udp" {
			c, err = net.ListenPacket("udp", a.addr)
		} else {
			c, err = net.Listen("tcp", a.addr)
		}
		if err != nil {
			t.Errorf("%s %s still bound: %v", a.network, a.addr, err)
			continue
		}
		c.Close()
	}
}

// TestCloseWithoutServe: Close releases every port New bound, twice is no error, and a
// Serve after it refuses to start.
func TestCloseWithoutServe(t *testing.T) {
	svc, _ := newBareService(t, nil)
	addrs := bound(svc)
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	requireReleased(t, addrs)
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := svc.Serve(context.Background()); err == nil {
		t.Error("Serve after Close returned nil, want an error")
	}
}

// TestServeCancelledAtOnceReleasesTFTP: a Serve whose context ends right after it
// starts (or before) still closes the TFTP socket, even when pin/tftp's Shutdown runs
// before its Serve has taken the socket.
func TestServeCancelledAtOnceReleasesTFTP(t *testing.T) {
	for i := range 50 {
		svc, _ := newBareService(t, nil)
		addrs := bound(svc)
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 0 {
			cancel() // already done when Serve starts
		}
		done := make(chan error, 1)
		go func() { done <- svc.Serve(ctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return within 30s of its context ending")
		}
		requireReleased(t, addrs)
		if t.Failed() {
			t.Fatalf("round %d", i)
		}
	}
}

// TestCloseStopsServe: Close while Serve runs makes Serve return and releases the ports.
func TestCloseStopsServe(t *testing.T) {
	svc, _ := newBareService(t, nil)
	addrs := bound(svc)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(context.Background()) }()
	// The listener is bound since New: the request waits for Serve and proves it runs.
	get(t, &http.Client{Timeout: 30 * time.Second}, "http://"+svc.HTTPAddr().String()+"/")
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s of Close")
	}
	requireReleased(t, addrs)
}

// TestHTTPSWithTLSConfig: the HTTPS listener takes its certificate from Config.TLSConfig
// and serves the agent handler under /agent/ and the media handler under /vmedia/;
// plain HTTP serves neither.
func TestHTTPSWithTLSConfig(t *testing.T) {
	agent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "agent "+r.URL.Path) })
	media := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "media "+r.URL.Path) })
	svc, pool := newBareService(t, func(c *Config) { c.AgentHandler, c.MediaHandler = agent, media })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	httpsBase, httpBase := "https://"+svc.HTTPSAddr().String(), "http://"+svc.HTTPAddr().String()
	for _, tc := range []struct {
		url  string
		code int
		body string
	}{
		{httpsBase + "/agent/v1/x", http.StatusOK, "agent /agent/v1/x"},
		{httpBase + "/agent/v1/x", http.StatusNotFound, "not found"},
		{httpsBase + "/vmedia/52:54:00:00:00:0a/s/stage1.iso", http.StatusOK, "media /vmedia/52:54:00:00:00:0a/s/stage1.iso"},
		{httpBase + "/vmedia/52:54:00:00:00:0a/s/stage1.iso", http.StatusNotFound, "not found"},
		{httpsBase + "/boot/pod-a/52-54-00-00-00-0a/nothing", http.StatusNotFound, "not found"},
	} {
		code, body := get(t, client, tc.url)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.url, code, body, tc.code, tc.body)
		}
	}
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
