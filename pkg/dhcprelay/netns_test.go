package dhcprelay_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// podsYAML are the pods an operator applies with `podboot pod apply -f`: pods a and b use
// the same provisioning CIDR behind two relays; pod c records unknown hosts. domainB is
// pod b's domain, changed later while serve runs.
func podsYAML(domainB string) string {
	pod := func(name, giaddr, relaySrc, cidr, first, last, policy, domain string) string {
		return fmt.Sprintf(`name: %s
profile: default
serverAddress: 198.51.100.10
unknownHosts: %s
match:
  - giaddr: %s
    relaySource: %s
subnets:
  - cidr: %s
    gateway: %s
    dns: [192.0.2.53]
    domain: %s
    leaseSeconds: 600
    rangeStart: %s
    rangeEnd: %s
`, name, policy, giaddr, relaySrc, cidr, giaddr, domain, first, last)
	}
	return pod("pod-a", "192.0.2.1", "198.51.100.2", "192.0.2.0/24", "192.0.2.100", "192.0.2.150", "ignore", "pod-a.example") + "---\n" +
		pod("pod-b", "192.0.2.254", "198.51.100.3", "192.0.2.0/24", "192.0.2.100", "192.0.2.150", "lease", domainB) + "---\n" +
		pod("pod-c", "203.0.113.1", "198.51.100.4", "203.0.113.0/24", "203.0.113.100", "203.0.113.150", "discover", "pod-c.example")
}

// register registers the profile, pods and hosts through the real CLI, as an operator
// would.
func register(t *testing.T, cli *testutil.CLI, work string) {
	t.Helper()
	write := func(name, content string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli.MustRun(t, "profile", "apply", "-f", write("profile.yaml", "name: default\n"))
	cli.MustRun(t, "pod", "apply", "-f", write("pods.yaml", podsYAML("pod-b.example")))
	for _, h := range [][3]string{
		{"52:54:00:0a:00:01", "pod-a", "192.0.2.11"}, // dhclient
		{"52:54:00:0a:00:02", "pod-a", "192.0.2.12"}, // PXE firmware
		{"52:54:00:0a:00:03", "pod-a", "192.0.2.13"}, // provisioned: netboot off
		{"52:54:00:0b:00:01", "pod-b", "192.0.2.11"}, // pod b's reservation of the same address
	} {
		cli.MustRun(t, "host", "add", h[0], "--pod", h[1], "--ip", h[2])
	}
}

// installed records what the agent's "installed" callback records (state provisioned,
// netboot off); the CLI has no such command, so it is written while serve is stopped.
func installed(t *testing.T, dir, mac string) {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := podmgr.Open(context.Background(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := m.RecordHostEvent(context.Background(), mac, "test", "installed", "", podmgr.HostUpdate{State: podmgr.StateProvisioned, Netboot: &off}); err != nil {
		t.Fatal(err)
	}
}

// checkDhclientLease runs ISC dhclient once on h's eth0 and checks that its lease file
// holds every wanted line and no boot file (a plain DHCP client must not get one).
func checkDhclientLease(t *testing.T, h *testutil.NS, work string, wants ...string) {
	t.Helper()
	lf := filepath.Join(work, "dhclient.leases")
	p := h.Start(nil, "dhclient", "-4", "-d", "-v", "-1", "-lf", lf, "-pf", filepath.Join(work, "dhclient.pid"), "-sf", "/bin/true", "eth0")
	var lease string
	testutil.WaitFor(t, 30*time.Second, "dhclient lease", func() bool {
		b, _ := os.ReadFile(lf)
		lease = string(b)
		return strings.Contains(lease, "}") || p.Exited()
	})
	for _, want := range wants {
		if !strings.Contains(lease, want) {
			t.Errorf("lease file lacks %q:\n%s", want, lease)
		}
	}
	if strings.Contains(lease, "filename") {
		t.Errorf("a plain DHCP client got a boot file:\n%s", lease)
	}
}

func TestRealClientsThroughRelays(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "dhclient", "udhcpc")
	bin := testutil.BuildPodboot(t)
	data, work := t.TempDir(), t.TempDir()

	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	torA := tp.ToR(central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	torB := tp.ToR(central, "b", "198.51.100.3/24", "192.0.2.254/24", "198.51.100.10")
	torC := tp.ToR(central, "c", "198.51.100.4/24", "203.0.113.1/24", "198.51.100.10")
	torA.RouteRack("192.0.2.0/24") // unicast renewals of pod a
	// The central namespace is fresh: the API's port is free there.
	const api = "127.0.0.1:9443"
	start := func() *testutil.Proc { return startServeIn(t, central, bin, data, api) }
	serve := start()
	cli := central.CLI(bin, data, api)
	register(t, cli, work)
	// The netboot-off host: the agent's callback is not what this test drives, so its
	// record is written with serve stopped; serve then loads it like any restart.
	if err := serve.Stop(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v\n%s", err, serve.Output())
	}
	installed(t, data, "52:54:00:0a:00:03")
	serve = start()
	torA.StartRelay("198.51.100.10")
	torB.StartRelay("198.51.100.10")
	torC.StartRelay("198.51.100.10", "-a")

	t.Run("dhclient gets its reservation, router, DNS and lease time", func(t *testing.T) {
		h := torA.Host("dhclient", "52:54:00:0a:00:01")
		checkDhclientLease(t, h, work, "fixed-address 192.0.2.11;", "option routers 192.0.2.1;", "option domain-name-servers 192.0.2.53;", "option dhcp-lease-time 600;", "option dhcp-server-identifier 198.51.100.10;", `option domain-name "pod-a.example";`)
	})

	pxe := torA.Host("pxe", "52:54:00:0a:00:02")
	for _, tc := range []struct {
		name, file string
		opts       []string
	}{
		{"BIOS", "pod-a/52-54-00-0a-00-02/undionly.kpxe", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"}},
		{"UEFI-x64", "pod-a/52-54-00-0a-00-02/ipxe.efi", []string{"-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"}},
		{"iPXE", "http://198.51.100.10:8080/boot/pod-a/52-54-00-0a-00-02/script.ipxe", []string{"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:69505845"}},
	} {
		t.Run("PXE "+tc.name, func(t *testing.T) {
			v := pxe.Udhcpc(t, work, "pxe-"+tc.name, tc.opts...)
			if v == nil {
				t.Fatal("no lease")
			}
			if v["ip"] != "192.0.2.12" || v["bootfile"] != tc.file || v["boot_file"] != tc.file || v["siaddr"] != "198.51.100.10" || v["serverid"] != "198.51.100.10" {
				t.Fatalf("ip=%s bootfile=%q boot_file=%q siaddr=%s serverid=%s, want file %q", v["ip"], v["bootfile"], v["boot_file"], v["siaddr"], v["serverid"], tc.file)
			}
			if tc.name != "iPXE" && v["tftp"] != "198.51.100.10" {
				t.Fatalf("option 66 %q", v["tftp"])
			}
		})
	}

	off := torA.Host("off", "52:54:00:0a:00:03")
	t.Run("netboot off: address, no boot program", func(t *testing.T) {
		v := off.Udhcpc(t, work, "off", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
		if v == nil || v["ip"] != "192.0.2.13" {
			t.Fatalf("lease %v", v)
		}
		if v["bootfile"] != "" || v["boot_file"] != "" || v["tftp"] != "" || (v["siaddr"] != "" && v["siaddr"] != "0.0.0.0") {
			t.Fatalf("netboot-off host got a boot program: bootfile=%q boot_file=%q tftp=%q siaddr=%q", v["bootfile"], v["boot_file"], v["tftp"], v["siaddr"])
		}
	})

	stranger := torA.Host("stranger", "52:54:00:0a:00:99")
	t.Run("unknown MAC ignored by default", func(t *testing.T) {
		if v := stranger.Udhcpc(t, work, "stranger", "-t", "2"); v != nil {
			t.Fatalf("unknown MAC in an ignore pod got %v", v["ip"])
		}
	})

	b1 := torB.Host("b1", "52:54:00:0b:00:01")
	t.Run("same CIDR, other pod: own reservation and unknown MACs leased", func(t *testing.T) {
		v := b1.Udhcpc(t, work, "b1")
		if v == nil || v["ip"] != "192.0.2.11" || v["domain"] != "pod-b.example" || v["router"] != "192.0.2.254" {
			t.Fatalf("pod b reserved host: %v", v)
		}
		u := torB.Host("b2", "52:54:00:0b:00:99")
		v = u.Udhcpc(t, work, "b2", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
		if v == nil || !strings.HasPrefix(v["ip"], "192.0.2.1") || v["bootfile"] != "" || v["boot_file"] != "" {
			t.Fatalf("lease policy: %v", v)
		}
	})

	t.Run("discover policy: leased and recorded", func(t *testing.T) {
		h := torC.Host("c1", "52:54:00:0c:00:99")
		v := h.Udhcpc(t, work, "c1", "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")
		if v == nil || !strings.HasPrefix(v["ip"], "203.0.113.1") || v["bootfile"] != "pod-c/52-54-00-0c-00-99/ipxe.efi" {
			t.Fatalf("discover policy: %v", v)
		}
	})

	// Changes made through the CLI while serve runs apply to the next exchange.
	t.Run("CLI change while serving: new reservation", func(t *testing.T) {
		cli.MustRun(t, "host", "add", "52:54:00:0a:00:99", "--pod", "pod-a", "--ip", "192.0.2.14")
		if v := stranger.Udhcpc(t, work, "stranger-registered"); v == nil || v["ip"] != "192.0.2.14" {
			t.Fatalf("host registered while serving: lease %v, want 192.0.2.14", v)
		}
	})
	t.Run("CLI change while serving: reprovision turns netboot on", func(t *testing.T) {
		cli.MustRun(t, "host", "reprovision", "52:54:00:0a:00:03")
		v := off.Udhcpc(t, work, "off-reprovisioned", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
		if want := "pod-a/52-54-00-0a-00-03/undionly.kpxe"; v == nil || v["ip"] != "192.0.2.13" || v["bootfile"] != want {
			t.Fatalf("reprovisioned host: %v, want 192.0.2.13 and boot file %s", v, want)
		}
	})
	t.Run("CLI change while serving: pod apply", func(t *testing.T) {
		p := filepath.Join(work, "pods-changed.yaml")
		if err := os.WriteFile(p, []byte(podsYAML("pod-b-renamed.example")), 0o644); err != nil {
			t.Fatal(err)
		}
		cli.MustRun(t, "pod", "apply", "-f", p)
		if v := b1.Udhcpc(t, work, "b1-changed"); v == nil || v["ip"] != "192.0.2.11" || v["domain"] != "pod-b-renamed.example" {
			t.Fatalf("pod b after apply: %v, want domain pod-b-renamed.example", v)
		}
	})

	if err := serve.Stop(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v\n%s", err, serve.Output())
	}
	// The discovered host is in the store, and the leases are too.
	st, err := podmgr.OpenBolt(filepath.Join(data, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(context.Background(), func(tx podmgr.ReadTx) error {
		h, ok, err := tx.Host("52:54:00:0c:00:99")
		if err != nil || !ok || !h.Discovered || h.Pod != "pod-c" || h.Arch == "" {
			t.Errorf("discovered host: %+v ok=%v err=%v", h, ok, err)
		}
		leases, _ := tx.Leases()
		if len(leases) < 6 {
			t.Errorf("only %d leases stored: %v", len(leases), leases)
		}
		return nil
	})
}
