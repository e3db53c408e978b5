package dhcprelay_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

var admin = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

func rackPod(name, giaddr, relaySrc, cidr, gw, first, last string, policy podmgr.UnknownHostPolicy) podmgr.Pod {
	return podmgr.Pod{Name: name, Profile: "default", ServerAddress: "198.51.100.10", UnknownHosts: policy,
		Match:   []podmgr.MatchRule{{Giaddr: giaddr, RelaySource: relaySrc}},
		Subnets: []podmgr.Subnet{{CIDR: cidr, Gateway: gw, DNS: []string{"192.0.2.53"}, Domain: name + ".example", LeaseSeconds: 600, RangeStart: first, RangeEnd: last}}}
}

// seed registers the pods and hosts in a fresh data dir, as an operator would.
func seed(t *testing.T, dir string) {
	ctx := context.Background()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := podmgr.Open(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = m.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default"}, true)
	must(err)
	// Pods a and b use the same provisioning CIDR behind two relays.
	for _, p := range []podmgr.Pod{
		rackPod("pod-a", "192.0.2.1", "198.51.100.2", "192.0.2.0/24", "192.0.2.1", "192.0.2.100", "192.0.2.150", podmgr.PolicyIgnore),
		rackPod("pod-b", "192.0.2.254", "198.51.100.3", "192.0.2.0/24", "192.0.2.254", "192.0.2.100", "192.0.2.150", podmgr.PolicyLease),
		rackPod("pod-c", "203.0.113.1", "198.51.100.4", "203.0.113.0/24", "203.0.113.1", "203.0.113.100", "203.0.113.150", podmgr.PolicyDiscover),
	} {
		_, _, err = m.ApplyPod(ctx, admin, p)
		must(err)
	}
	_, err = m.AddHosts(ctx, admin, []podmgr.Host{
		{MAC: "52:54:00:0a:00:01", Pod: "pod-a", ProvisioningIP: "192.0.2.11"}, // dhclient
		{MAC: "52:54:00:0a:00:02", Pod: "pod-a", ProvisioningIP: "192.0.2.12"}, // PXE firmware
		{MAC: "52:54:00:0a:00:03", Pod: "pod-a", ProvisioningIP: "192.0.2.13"}, // provisioned
	})
	must(err)
	_, err = m.AddHosts(ctx, admin, []podmgr.Host{{MAC: "52:54:00:0b:00:01", Pod: "pod-b", ProvisioningIP: "192.0.2.11"}})
	must(err)
	off := false
	_, err = m.RecordHostEvent(ctx, "52:54:00:0a:00:03", "test", "installed", "", podmgr.HostUpdate{State: podmgr.StateProvisioned, Netboot: &off})
	must(err)
}

// udhcpcScript records the variables of the bound lease.
const udhcpcScript = "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$OUT\"\nexit 0\n"

// udhcpc runs busybox udhcpc once in ns with extra options; it returns the bound lease's
// variables, or nil when no lease was obtained.
func udhcpc(t *testing.T, ns *testutil.NS, dir, name string, extra ...string) map[string]string {
	t.Helper()
	script := filepath.Join(dir, "udhcpc.sh")
	if err := os.WriteFile(script, []byte(udhcpcScript), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".env")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"env", "OUT=" + out, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "4", "-T", "2", "-A", "1", "-s", script}, extra...)
	b, err := ns.Cmd(ctx, args...).CombinedOutput()
	env, rerr := os.ReadFile(out)
	if err != nil || rerr != nil {
		t.Logf("udhcpc %s: %v\n%s", name, err, b)
		return nil
	}
	vars := map[string]string{}
	for _, l := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

func TestRealClientsThroughRelays(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "dhclient", "udhcpc")
	bin := testutil.BuildPodboot(t)
	data, work := t.TempDir(), t.TempDir()
	seed(t, data)

	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	torA := tp.ToR(central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	torB := tp.ToR(central, "b", "198.51.100.3/24", "192.0.2.254/24", "198.51.100.10")
	torC := tp.ToR(central, "c", "198.51.100.4/24", "203.0.113.1/24", "198.51.100.10")
	torA.RouteRack("192.0.2.0/24") // unicast renewals of pod a
	serve := central.Start([]string{"PODBOOT_TFTP_ADDR=127.0.0.1:0", "PODBOOT_HTTP_ADDR=127.0.0.1:0", "PODBOOT_HTTPS_ADDR=127.0.0.1:0", "PODBOOT_DHCP_ADDR=:67"},
		bin, "serve", "--data-dir", data, "--api-addr", "127.0.0.1:0")
	testutil.WaitFor(t, 30*time.Second, "podboot DHCP to serve", func() bool {
		if serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", serve.Output())
		}
		return strings.Contains(serve.Output(), "service=dhcp") && strings.Contains(serve.Output(), "msg=serving")
	})
	torA.StartRelay("198.51.100.10")
	torB.StartRelay("198.51.100.10")
	torC.StartRelay("198.51.100.10", "-a")

	t.Run("dhclient gets its reservation, router, DNS and lease time", func(t *testing.T) {
		h := torA.Host("dhclient", "52:54:00:0a:00:01")
		lf := filepath.Join(work, "dhclient.leases")
		p := h.Start(nil, "dhclient", "-4", "-d", "-v", "-1", "-lf", lf, "-pf", filepath.Join(work, "dhclient.pid"), "-sf", "/bin/true", "eth0")
		var lease string
		testutil.WaitFor(t, 30*time.Second, "dhclient lease", func() bool {
			b, _ := os.ReadFile(lf)
			lease = string(b)
			return strings.Contains(lease, "}") || p.Exited()
		})
		for _, want := range []string{"fixed-address 192.0.2.11;", "option routers 192.0.2.1;", "option domain-name-servers 192.0.2.53;", "option dhcp-lease-time 600;", "option dhcp-server-identifier 198.51.100.10;", `option domain-name "pod-a.example";`} {
			if !strings.Contains(lease, want) {
				t.Errorf("lease file lacks %q:\n%s", want, lease)
			}
		}
		if strings.Contains(lease, "filename") {
			t.Errorf("a plain DHCP client got a boot file:\n%s", lease)
		}
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
			v := udhcpc(t, pxe, work, "pxe-"+tc.name, tc.opts...)
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

	t.Run("netboot off: address, no boot program", func(t *testing.T) {
		h := torA.Host("off", "52:54:00:0a:00:03")
		v := udhcpc(t, h, work, "off", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
		if v == nil || v["ip"] != "192.0.2.13" {
			t.Fatalf("lease %v", v)
		}
		if v["bootfile"] != "" || v["boot_file"] != "" || v["tftp"] != "" || (v["siaddr"] != "" && v["siaddr"] != "0.0.0.0") {
			t.Fatalf("netboot-off host got a boot program: bootfile=%q boot_file=%q tftp=%q siaddr=%q", v["bootfile"], v["boot_file"], v["tftp"], v["siaddr"])
		}
	})

	t.Run("unknown MAC ignored by default", func(t *testing.T) {
		h := torA.Host("stranger", "52:54:00:0a:00:99")
		if v := udhcpc(t, h, work, "stranger", "-t", "2"); v != nil {
			t.Fatalf("unknown MAC in an ignore pod got %v", v["ip"])
		}
	})

	t.Run("same CIDR, other pod: own reservation and unknown MACs leased", func(t *testing.T) {
		h := torB.Host("b1", "52:54:00:0b:00:01")
		v := udhcpc(t, h, work, "b1")
		if v == nil || v["ip"] != "192.0.2.11" || v["domain"] != "pod-b.example" || v["router"] != "192.0.2.254" {
			t.Fatalf("pod b reserved host: %v", v)
		}
		u := torB.Host("b2", "52:54:00:0b:00:99")
		v = udhcpc(t, u, work, "b2", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
		if v == nil || !strings.HasPrefix(v["ip"], "192.0.2.1") || v["bootfile"] != "" || v["boot_file"] != "" {
			t.Fatalf("lease policy: %v", v)
		}
	})

	t.Run("discover policy: leased and recorded", func(t *testing.T) {
		h := torC.Host("c1", "52:54:00:0c:00:99")
		v := udhcpc(t, h, work, "c1", "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")
		if v == nil || !strings.HasPrefix(v["ip"], "203.0.113.1") || v["bootfile"] != "pod-c/52-54-00-0c-00-99/ipxe.efi" {
			t.Fatalf("discover policy: %v", v)
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
		if len(leases) < 5 {
			t.Errorf("only %d leases stored: %v", len(leases), leases)
		}
		return nil
	})
}
