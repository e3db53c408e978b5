package dhcprelay_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// localPodsYAML: pod-local is the central node's own segment (lan0, 203.0.113.1/24),
// matched by a giaddr rule with the interface's address; pod-a is behind a ToR relay.
const localPodsYAML = `name: pod-local
profile: default
serverAddress: 203.0.113.1
match:
  - giaddr: 203.0.113.1
subnets:
  - cidr: 203.0.113.0/24
    gateway: 203.0.113.1
    dns: [203.0.113.53]
    domain: local.example
    leaseSeconds: 600
    rangeStart: 203.0.113.100
    rangeEnd: 203.0.113.150
---
name: pod-a
profile: default
serverAddress: 198.51.100.10
match:
  - giaddr: 192.0.2.1
    relaySource: 198.51.100.2
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    domain: pod-a.example
    leaseSeconds: 600
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
`

// udhcpcRenewScript configures the bound address (a renewal is sent from it) and records
// each event's variables in $OUT.EVENT.
const udhcpcRenewScript = `#!/bin/sh
case "$1" in
bound) ip addr add "$ip/$mask" dev "$interface"; env > "$OUT.bound" ;;
renew) env > "$OUT.renew" ;;
esac
exit 0
`

// TestLocalInterfaceService: with dhcp.interface set, podboot answers broadcast DHCP of
// hosts on its own segment (no relay) for the pod whose giaddr rule names the interface's
// address, while relayed DHCP goes on as before.
func TestLocalInterfaceService(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "dhclient", "udhcpc", "curl")
	bin := testutil.BuildPodboot(t)
	data, work := t.TempDir(), t.TempDir()

	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	lan := tp.LocalSegment(central, "lan0", "203.0.113.1/24")
	torA := tp.ToR(central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")

	cfg := filepath.Join(work, "serve.yaml")
	if err := os.WriteFile(cfg, []byte("dhcp:\n  addr: \":67\"\n  interface: lan0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const api = "127.0.0.1:9443"
	serve := startServeIn(t, central, bin, data, api, "--config", cfg)
	if !strings.Contains(serve.Output(), "interface=lan0") {
		t.Fatalf("the DHCP service does not say it serves lan0:\n%s", serve.Output())
	}
	cli := central.CLI(bin, data, api)
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli.MustRun(t, "profile", "apply", "-f", write("profile.yaml", "name: default\n"))
	cli.MustRun(t, "pod", "apply", "-f", write("pods.yaml", localPodsYAML))
	for _, h := range [][3]string{
		{"52:54:00:1c:00:01", "pod-local", "203.0.113.11"}, // dhclient
		{"52:54:00:1c:00:02", "pod-local", "203.0.113.12"}, // PXE firmware
		{"52:54:00:1c:00:03", "pod-local", "203.0.113.13"}, // renews by unicast
		{"52:54:00:0a:00:01", "pod-a", "192.0.2.11"},       // behind the relay
	} {
		cli.MustRun(t, "host", "add", h[0], "--pod", h[1], "--ip", h[2])
	}
	torA.StartRelay("198.51.100.10")

	t.Run("dhclient on the segment gets its reservation and the pod's options", func(t *testing.T) {
		h := lan.Host("ldhclient", "52:54:00:1c:00:01")
		checkDhclientLease(t, h, work, "fixed-address 203.0.113.11;", "option routers 203.0.113.1;", "option domain-name-servers 203.0.113.53;", "option dhcp-lease-time 600;", "option dhcp-server-identifier 203.0.113.1;", `option domain-name "local.example";`)
	})

	pxe := lan.Host("lpxe", "52:54:00:1c:00:02")
	for _, tc := range []struct {
		name, file string
		opts       []string
	}{
		{"BIOS", "pod-local/52-54-00-1c-00-02/undionly.kpxe", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"}},
		{"iPXE", "http://203.0.113.1:8080/boot/pod-local/52-54-00-1c-00-02/script.ipxe", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:69505845"}},
	} {
		t.Run("PXE on the segment "+tc.name, func(t *testing.T) {
			v := pxe.Udhcpc(t, work, "local-pxe-"+tc.name, tc.opts...)
			if v == nil {
				t.Fatal("no lease")
			}
			if v["ip"] != "203.0.113.12" || v["router"] != "203.0.113.1" || v["bootfile"] != tc.file || v["boot_file"] != tc.file || v["siaddr"] != "203.0.113.1" || v["serverid"] != "203.0.113.1" {
				t.Fatalf("ip=%s router=%s bootfile=%q boot_file=%q siaddr=%s serverid=%s, want 203.0.113.12, router 203.0.113.1, file %q", v["ip"], v["router"], v["bootfile"], v["boot_file"], v["siaddr"], v["serverid"], tc.file)
			}
			if tc.name == "BIOS" && v["tftp"] != "203.0.113.1" {
				t.Fatalf("option 66 %q", v["tftp"])
			}
		})
	}

	t.Run("unicast renewal on the segment", func(t *testing.T) {
		h := lan.Host("lrenew", "52:54:00:1c:00:03")
		script := filepath.Join(work, "udhcpc-renew.sh")
		if err := os.WriteFile(script, []byte(udhcpcRenewScript), 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(work, "renew")
		p := h.Start(nil, "env", "OUT="+out, "udhcpc", "-i", "eth0", "-f", "-t", "4", "-T", "2", "-A", "1", "-s", script)
		bound := waitEnv(t, p, out+".bound")
		if bound["ip"] != "203.0.113.13" {
			t.Fatalf("bound %v, want 203.0.113.13", bound)
		}
		// SIGUSR1 makes udhcpc renew at once: a REQUEST unicast to the server identifier.
		if err := p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if renew := waitEnv(t, p, out+".renew"); renew["ip"] != "203.0.113.13" || renew["serverid"] != "203.0.113.1" {
			t.Fatalf("renewed %v, want 203.0.113.13 from 203.0.113.1", renew)
		}
	})

	t.Run("relayed DHCP alongside", func(t *testing.T) {
		h := torA.Host("relayed", "52:54:00:0a:00:01")
		v := h.Udhcpc(t, work, "relayed")
		if v == nil || v["ip"] != "192.0.2.11" || v["router"] != "192.0.2.1" || v["serverid"] != "198.51.100.10" || v["domain"] != "pod-a.example" {
			t.Fatalf("relayed host: %v", v)
		}
	})

	// Every packet was handled once, by the socket it belongs to: the local segment's
	// broadcasts also reach the relays' socket, which must leave them alone (it would
	// count them as not relayed, and answer a broadcast carrying ciaddr a second time).
	m := metricsIn(t, central, api, "podboot_dhcp_packets_total")
	for _, want := range []string{
		`podboot_dhcp_packets_total{outcome="offer",pod="pod-local",relay="203.0.113.1",type="discover"}`,
		`podboot_dhcp_packets_total{outcome="ack",pod="pod-local",relay="203.0.113.1",type="request"}`,
		// The relay label is the relay's UDP source, not its giaddr (192.0.2.1).
		`podboot_dhcp_packets_total{outcome="ack",pod="pod-a",relay="198.51.100.2",type="request"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `pod="none"`) {
		t.Errorf("packets were dropped:\n%s", m)
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
}

// startServeIn runs `podboot serve` in ns (its DHCP on :67, boot listeners on loopback
// ports of their own) and waits until its API and DHCP service are up.
func startServeIn(t *testing.T, ns *testutil.NS, bin, data, api string, args ...string) *testutil.Proc {
	t.Helper()
	serve := ns.Start([]string{"PODBOOT_TFTP_ADDR=127.0.0.1:0", "PODBOOT_HTTP_ADDR=127.0.0.1:0", "PODBOOT_HTTPS_ADDR=127.0.0.1:0", "PODBOOT_DHCP_ADDR=:67"},
		append([]string{bin, "serve", "--data-dir", data, "--api-addr", api}, args...)...)
	testutil.WaitFor(t, 30*time.Second, "podboot API and DHCP to serve", func() bool {
		if serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", serve.Output())
		}
		out := serve.Output()
		return strings.Contains(out, "podboot serving") && strings.Contains(out, "service=dhcp") && strings.Contains(out, "msg=serving")
	})
	return serve
}

// waitEnv waits for a udhcpc script's record of variables.
func waitEnv(t *testing.T, p *testutil.Proc, path string) map[string]string {
	t.Helper()
	var b []byte
	testutil.WaitFor(t, 30*time.Second, filepath.Base(path), func() bool {
		if p.Exited() {
			t.Fatalf("udhcpc exited:\n%s", p.Output())
		}
		var err error
		b, err = os.ReadFile(path)
		return err == nil && len(b) > 0
	})
	vars := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// metricsIn returns the lines of serve's /metrics that start with prefix.
func metricsIn(t *testing.T, ns *testutil.NS, api, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := ns.Cmd(ctx, "curl", "-sfk", "https://"+api+"/metrics").Output()
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
