package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

const (
	goodMAC = "52:54:00:e2:e0:01"
	badMAC  = "52:54:00:e2:e0:02"
)

const podYAML = `name: pod-a
match:
  - giaddr: 192.0.2.1
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    dns: [192.0.2.53]
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
serverAddress: 198.51.100.10
management:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  vlan: 100
  dns: [203.0.113.53]
  domain: pod-a.example
profile: e2e
kickstart:
  sshKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2e e2e@podboot"]
  rootPasswordHash: "$6$e2esalt$e2ehash"
`

func profileYAML(name, stage2, extra string) string {
	return "name: " + name + "\nkernel: stage1-kernel@1\ninitrd: stage1-initrd@1\nkernelArgs: console=ttyS0 panic=-1\nstage2: " + stage2 + "\n" + extra
}

// customKickstart is the shipped template plus a command the agent does not know, as a
// pod's own template: it must install anyway and report the command as a warning.
func customKickstart(t *testing.T, src string) string {
	b, err := os.ReadFile(filepath.Join(src, "artifacts", "templates", "kickstart.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	y.WriteString("bashPackage: bash-example@1\nkickstart: |\n")
	for _, l := range strings.Split(string(b)+"timezone Etc/UTC\n", "\n") {
		y.WriteString("  " + l + "\n")
	}
	return y.String()
}

// TestProvisionEndToEnd is issue 6's acceptance test; see the package comment.
func TestProvisionEndToEnd(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get", "curl")
	start := time.Now()
	e := newSite(t, nil)
	admin, central, tor, data, work, pki := e.admin, e.central, e.tor, e.data, e.work, e.pki
	admin.must("host", "add", goodMAC, "--pod", "pod-a", "--hostname", "node1", "--mgmt-ip", "203.0.113.21")
	admin.must("host", "add", badMAC, "--pod", "pod-a", "--hostname", "node2", "--mgmt-ip", "203.0.113.22", "--profile", "e2e-bad")
	admin.must("host", "add", httpBootMAC, "--pod", "pod-a", "--hostname", "node3", "--mgmt-ip", "203.0.113.23")
	watched := watch(t, admin, "pod-a")
	t.Logf("setup took %s", time.Since(start).Round(time.Millisecond))

	t.Run("tampered stage2 is refused on the host", func(t *testing.T) {
		tamper(t, data, "os@2")
		disk := newDisk(t, work, "bad")
		begin := time.Now()
		v := startVM(t, tor, "bad", badMAC, disk)
		v.waitExit(t, 3*time.Minute, "the refusing host to power off")
		t.Logf("refusal run took %s", time.Since(begin).Round(time.Millisecond))
		h := admin.host(badMAC)
		if h.State != podmgr.StateFailed || !strings.Contains(h.StateReason, "digest mismatch") || !h.Netboot {
			t.Fatalf("host after refusal: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, v.proc.Output())
		}
		b, _ := os.ReadFile(disk)
		if !bytes.Equal(b[:1<<20], make([]byte, 1<<20)) {
			t.Fatal("the first MiB of the disk is not zero after the refusal")
		}
		acts := actions(admin.events(badMAC))
		if !testutil.InOrder(acts, []string{"agent.booted", "agent.network", "agent.chainload", "agent.failed"}) || testutil.InOrder(acts, []string{"kickstart.served"}) {
			t.Fatalf("events %v", acts)
		}
	})

	var token string
	var disk string
	var probe *testutil.NS
	macPath := strings.ReplaceAll(goodMAC, ":", "-")
	tftp := func() error {
		return probe.Cmd(context.Background(), "curl", "-sf", "--max-time", "20", "-o", "/dev/null", "tftp://198.51.100.10/pod-a/"+macPath+"/undionly.kpxe").Run()
	}
	t.Run("provisioned end to end", func(t *testing.T) {
		disk = newDisk(t, work, "good")
		begin := time.Now()
		v := startVM(t, tor, "good", goodMAC, disk)
		v.waitExit(t, 3*time.Minute, "the host to install and power off")
		t.Logf("install run took %s", time.Since(begin).Round(time.Millisecond))
		if m := regexp.MustCompile(`podboot\.token=(pbh_[A-Za-z0-9_-]+)`).FindStringSubmatch(v.proc.Output()); m != nil {
			token = m[1]
		}
		h := admin.host(goodMAC)
		if h.State != podmgr.StateProvisioned || h.Netboot {
			t.Fatalf("host: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, v.proc.Output())
		}
		evs := admin.events(goodMAC)
		want := []string{"registered", "dhcp.offer", "token.issued", "http.script", "http.sent", "http.sent", "agent.booted", "agent.network",
			"agent.chainload", "agent.verified", "kickstart.served", "agent.kickstart", "installed"}
		if !testutil.InOrder(actions(evs), want) {
			t.Fatalf("events %v, want in order %v", actions(evs), want)
		}
		var states []string
		for _, e := range evs {
			if e.State != "" && (len(states) == 0 || states[len(states)-1] != string(e.State)) {
				states = append(states, string(e.State))
			}
		}
		if !testutil.InOrder(states, []string{"registered", "offered", "booting", "verified", "installing", "provisioned"}) {
			t.Fatalf("state transitions %v", states)
		}
		var warnings []string
		for _, e := range evs {
			if e.Action == "agent.warning" {
				warnings = append(warnings, e.Detail)
			}
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], `"timezone"`) {
			t.Errorf("warnings %q, want one naming the unknown timezone command", warnings)
		}
		checks := map[string][]string{
			"/etc/hostname": {"node1\n"},
			"/etc/systemd/network/10-podboot-0.network":         {"MACAddress=" + goodMAC, "VLAN=vlan100"},
			"/etc/systemd/network/10-podboot-0-vlan100.netdev":  {"Id=100"},
			"/etc/systemd/network/10-podboot-0-vlan100.network": {"Address=203.0.113.21/24", "Gateway=203.0.113.1", "DNS=203.0.113.53"},
			"/etc/podboot/ks.cfg":                               {"network --device=" + goodMAC, "--vlanid=100", "liveimg --url=https://198.51.100.10:8443/"},
			"/root/.ssh/authorized_keys":                        {"e2e@podboot"},
			"/etc/shadow":                                       {"root:$6$e2esalt$e2ehash:"},
			"/etc/motd":                                         {"good image"},
			"/etc/podboot/firstboot.d/50-ks-post-01":            {"#!/bin/sh", "provisioned by podboot"},
			"/etc/podboot/firstboot.d/60-pkg-10-report.sh":      {"podboot-report.log"},
			"/etc/systemd/system/podboot-firstboot.service":     {"ExecStart=/etc/podboot/firstboot"},
		}
		for f, wants := range checks {
			got := debugfsCat(t, work, disk, f)
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Errorf("%s on the VM disk = %q, want it to contain %q", f, got, w)
				}
			}
		}
	})
	if t.Failed() {
		return
	}
	t.Run("UEFI HTTP Boot provisions with no TFTP", func(t *testing.T) {
		testUEFIHTTPBoot(t, admin, central, tor, work)
	})
	t.Run("UEFI HTTP Boot from an https URL with the CA enrolled", func(t *testing.T) {
		testUEFIHTTPSBoot(t, e)
	})
	t.Run("Secure Boot distro chain provisions", func(t *testing.T) {
		testSecureBootDistro(t, e)
	})
	t.Run("Secure Boot refuses a kernel without its signature", func(t *testing.T) {
		testSecureBootUnsignedKernel(t, e)
	})
	t.Run("Secure Boot full chain provisions", func(t *testing.T) {
		testSecureBootFull(t, e)
	})
	t.Run("Secure Boot full chain refuses a changed or unsigned UKI", func(t *testing.T) {
		testSecureBootFullRefused(t, e)
	})

	t.Run("old token opens nothing", func(t *testing.T) {
		if token == "" {
			t.Fatal("the kernel command line with the token was not in the console output")
		}
		base := "https://198.51.100.10:8443/agent/v1/hosts/" + strings.ReplaceAll(goodMAC, ":", "-") + "/"
		for _, req := range [][]string{
			{"-X", "GET", base + "kickstart"},
			{"-X", "GET", base + "chainload"},
			{"-X", "GET", base + "stage2"},
			{"-X", "GET", base + "bash-package"},
			{"-X", "POST", "-d", `{"disk":"vda","sha256":"x","finish":"reboot"}`, base + "installed"},
		} {
			args := append([]string{"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", filepath.Join(pki, "ca.pem"), "-H", "Authorization: Bearer " + token}, req...)
			if code := central.Run(args...); code != "403" {
				t.Errorf("%v with the used token: HTTP %s, want 403", req, code)
			}
		}
		// The agent API is never on plain HTTP.
		plain := strings.Replace(strings.Replace(base, "https:", "http:", 1), ":8443", ":8080", 1) + "kickstart"
		if code := central.Run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer "+token, plain); code != "404" {
			t.Errorf("agent API over plain HTTP: HTTP %s, want 404", code)
		}
	})

	t.Run("next PXE boot gets an address and boots the local disk", func(t *testing.T) {
		v := startVM(t, tor, "again", goodMAC, disk)
		testutil.WaitFor(t, 90*time.Second, "the firmware to fall through to the local disk", func() bool {
			return strings.Contains(v.proc.Output(), "Booting from Hard Disk")
		})
		v.proc.Stop()
		con := v.proc.Output()
		if !strings.Contains(con, "net0: 192.0.2.101/") || strings.Contains(con, "Filename:") || strings.Contains(con, "script.ipxe") {
			t.Fatalf("second boot: want an address and no boot program; console:\n%s", con)
		}
		// An iPXE that asks for its script anyway (from the host's address) gets exit.
		probe = tor.Host("probe", goodMAC)
		probe.Run("ip", "addr", "add", "192.0.2.101/24", "dev", "eth0")
		probe.Run("ip", "route", "add", "default", "via", "192.0.2.1")
		script := probe.Run("curl", "-sf", "http://198.51.100.10:8080/boot/pod-a/"+macPath+"/script.ipxe")
		if !strings.Contains(script, "netboot is off") || !strings.Contains(script, "\nexit") || strings.Contains(script, "kernel ") {
			t.Fatalf("script endpoint for a provisioned host:\n%s", script)
		}
		if err := tftp(); err == nil {
			t.Error("TFTP served the bootloader to a provisioned host")
		}
		h := admin.host(goodMAC)
		if h.State != podmgr.StateProvisioned || h.Netboot {
			t.Fatalf("after a second boot: state %s netboot %v", h.State, h.Netboot)
		}
		if !testutil.InOrder(actions(admin.events(goodMAC)), []string{"installed", "http.localboot"}) {
			t.Errorf("no http.localboot event after installed")
		}
	})

	t.Run("reprovision turns netboot on again", func(t *testing.T) {
		admin.must("host", "reprovision", goodMAC)
		h := admin.host(goodMAC)
		if h.State != podmgr.StateRegistered || !h.Netboot {
			t.Fatalf("after reprovision: %+v", h)
		}
		// Netboot is back on every path: TFTP and the iPXE script (with a new token).
		if err := tftp(); err != nil {
			t.Errorf("TFTP after reprovision: %v", err)
		}
		script := probe.Run("curl", "-sf", "http://198.51.100.10:8080/boot/pod-a/"+macPath+"/script.ipxe")
		if !strings.Contains(script, "podboot.token=pbh_") || strings.Contains(script, token) {
			t.Errorf("script after reprovision has no new token:\n%s", script)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _, err := admin.run(ctx, "host", "watch", "--pod", "pod-a", "-o", "json", "--timeout", "2s")
		if err != nil && !strings.Contains(out, goodMAC) {
			t.Fatalf("watch: %v %s", err, out)
		}
		var first podmgr.Event
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil || first.Action != "state" {
			t.Fatalf("watch first line %q: %v", out, err)
		}
	})
	t.Run("host watch followed the install live", func(t *testing.T) {
		if !strings.Contains(watched(), goodMAC+" provisioned") {
			t.Fatalf("podboot host watch did not show %s reaching provisioned:\n%s", goodMAC, watched())
		}
	})
	t.Logf("end-to-end took %s", time.Since(start).Round(time.Millisecond))
}

// watch runs `podboot host watch --pod POD` for the rest of the test and logs each line
// as it arrives (go test -v shows the host's progress live; make demo relies on it). It
// returns what was seen so far, one "MAC STATE ACTION" a line.
func watch(t *testing.T, c *cli, pod string) func() string {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := c.ns.Cmd(ctx, c.bin, "--server", c.server, "--token", c.token, "--ca-cert", c.caCert, "host", "watch", "--pod", pod, "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev podmgr.Event
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.MAC == "" {
				continue
			}
			mu.Lock()
			fmt.Fprintf(&seen, "%s %s %s\n", ev.MAC, ev.State, ev.Action)
			mu.Unlock()
			t.Logf("watch: %s %-17s %-12s %-17s %s", ev.Time.Format("15:04:05.000"), ev.MAC, ev.State, ev.Action, ev.Detail)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return seen.String()
	}
}

// tamper flips one byte in the middle of a stored artifact's blob, as an attacker with
// write access to the store (or a bad disk) would.
func tamper(t *testing.T, data, ref string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "artifacts", "meta", ref+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(data, "artifacts", "blobs", "sha256", rec.Digest[:2], rec.Digest)
	os.Chmod(blob, 0o644)
	f, err := os.OpenFile(blob, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	one := make([]byte, 1)
	f.ReadAt(one, rec.Size/2)
	one[0] ^= 0xff
	if _, err := f.WriteAt(one, rec.Size/2); err != nil {
		t.Fatal(err)
	}
}
