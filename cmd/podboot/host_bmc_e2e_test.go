package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHostBMCThroughCLI drives BMCs through the real binary and CLI: a Redfish BMC (the
// DMTF-mockup fixture over HTTPS) and an IPMI BMC (OpenIPMI's ipmi_sim over RMCP+).
// It checks what arrives at each BMC, that the password is sealed at rest and never
// shown, who may do what, the timeline and audit events, and the errors for a wrong
// password and an unreachable BMC.
func TestHostBMCThroughCLI(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	srv := testutil.StartServe(t, bin, t.TempDir())
	admin := testutil.NewCLI(t, bin, srv)
	files := t.TempDir()
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", podBYAML))
	const (
		rfMAC, ipmiMAC, wrongMAC, downMAC = "52:54:00:bc:00:01", "52:54:00:bc:00:02", "52:54:00:bc:00:03", "52:54:00:bc:00:04"
		rfPass, ipmiPass                  = "rf-Secret-7781", "ipmi-Secret-5523"
	)
	for _, mac := range []string{rfMAC, ipmiMAC, wrongMAC, downMAC} {
		admin.MustRun(t, "host", "add", mac, "--pod", "pod-b")
	}
	rf := testutil.StartRedfishBMC(t, "admin", rfPass)
	sim := testutil.StartIPMISim(t, "127.0.0.1", ipmiPass)
	ca := writeFile(t, files, "bmc-ca.pem", rf.CACert)
	operator, viewer := roleCLI(t, admin, "operator"), roleCLI(t, admin, "viewer")

	pw := func(s string) string { return writeFile(t, files, "pw-"+s, s+"\n") }
	out := operator.MustRun(t, "host", "bmc", "set", rfMAC, "--driver", "redfish", "--address", rf.Host, "--port", fmt.Sprint(rf.Port), "--user", "admin", "--password-file", pw(rfPass), "--bmc-ca-cert", ca)
	if !strings.Contains(out, "password sealed") || strings.Contains(out, rfPass) {
		t.Fatalf("bmc set said %q", out)
	}
	operator.MustRun(t, "host", "bmc", "set", ipmiMAC, "--driver", "ipmi", "--address", "127.0.0.1", "--port", fmt.Sprint(sim.Port), "--user", "admin", "--password-file", pw(ipmiPass))
	operator.MustRun(t, "host", "bmc", "set", wrongMAC, "--driver", "ipmi", "--address", "127.0.0.1", "--port", fmt.Sprint(sim.Port), "--user", "admin", "--password-file", pw("not-the-password"))
	operator.MustRun(t, "host", "bmc", "set", downMAC, "--driver", "redfish", "--address", "127.0.0.1", "--port", fmt.Sprint(testutil.FreeTCPPort(t)), "--user", "admin", "--password-file", pw(rfPass), "--insecure-tls")

	t.Run("secret never shown nor stored in clear", func(t *testing.T) {
		show := viewer.MustRun(t, "host", "bmc", "show", rfMAC, "-o", "json")
		if strings.Contains(strings.ToLower(show), "password") || strings.Contains(show, rfPass) || !strings.Contains(show, `"driver": "redfish"`) {
			t.Fatalf("bmc show: %s", show)
		}
		db, err := os.ReadFile(filepath.Join(srv.DataDir, "podboot.db"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{rfPass, ipmiPass} {
			if bytes.Contains(db, []byte(p)) {
				t.Fatalf("password %q is in the database file in clear", p)
			}
		}
		if fi, err := os.Stat(filepath.Join(srv.DataDir, "bmc.key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("bmc.key: %v %v, want mode 0600", fi, err)
		}
		ci := roleCLI(t, admin, "ci")
		for _, c := range []*testutil.CLI{viewer, ci} {
			for _, args := range [][]string{
				{"host", "power", "status", rfMAC},
				{"host", "power", "off", rfMAC},
				{"host", "boot-device", rfMAC, "pxe"},
				{"host", "reprovision", rfMAC, "--power-cycle"},
				{"host", "virtual-media", "eject", rfMAC},
				{"host", "bmc", "set", rfMAC, "--driver", "redfish", "--address", "192.0.2.99", "--user", "x", "--password-file", pw("x")},
			} {
				if msg := c.MustFail(t, args...); !strings.Contains(msg, "HTTP 403") {
					t.Fatalf("%v by a %s token: %q, want 403", args, c.Token[:8], msg)
				}
			}
		}
		if msg := ci.MustFail(t, "host", "bmc", "show", rfMAC); !strings.Contains(msg, "HTTP 403") {
			t.Fatalf("ci bmc show: %q, want 403", msg)
		}
		if len(rf.Actions()) != 0 {
			t.Fatalf("refused requests reached the BMC: %v", rf.Actions())
		}
	})

	t.Run("redfish", func(t *testing.T) {
		if out := operator.MustRun(t, "host", "power", "status", rfMAC); !strings.Contains(out, "power on") {
			t.Fatalf("power status: %q", out)
		}
		operator.MustRun(t, "host", "power", "cycle", rfMAC)
		operator.MustRun(t, "host", "boot-device", rfMAC, "pxe", "--once", "--uefi")
		want := []string{"Reset ForceOff", "Reset On", "Boot Pxe Once UEFI"}
		if got := rf.Actions(); !slices.Equal(got, want) {
			t.Fatalf("redfish BMC saw %v, want %v", got, want)
		}
		out := operator.MustRun(t, "host", "reprovision", rfMAC, "--power-cycle")
		if !strings.Contains(out, "power-cycled") {
			t.Fatalf("reprovision said %q", out)
		}
		want = append(want, "Boot Pxe Once Legacy", "Reset ForceOff", "Reset On")
		if got := rf.Actions(); !slices.Equal(got, want) {
			t.Fatalf("redfish BMC saw %v, want %v", got, want)
		}
		if msg := operator.MustFail(t, "host", "boot-device", rfMAC, "http", "--once"); !strings.Contains(msg, "not supported") {
			t.Fatalf("http boot: %q, want 'not supported'", msg)
		}
		const iso = "https://198.51.100.10:8443/media/rescue.iso"
		operator.MustRun(t, "host", "virtual-media", "insert", rfMAC, iso)
		operator.MustRun(t, "host", "virtual-media", "eject", rfMAC)
		if got := rf.Actions(); !slices.Equal(got[len(got)-3:], []string{"EjectMedia CD1", "InsertMedia CD1 " + iso, "EjectMedia CD1"}) {
			t.Fatalf("virtual media: BMC saw %v", got)
		}
		if msg := operator.MustFail(t, "host", "virtual-media", "insert", ipmiMAC, iso); !strings.Contains(msg, "not supported") {
			t.Fatalf("virtual media over ipmi: %q, want 'not supported'", msg)
		}
		if msg := operator.MustFail(t, "host", "virtual-media", "insert", rfMAC, "file:///etc/shadow"); !strings.Contains(msg, "HTTP 400") {
			t.Fatalf("file URL: %q, want 400", msg)
		}
	})

	t.Run("ipmi", func(t *testing.T) {
		if out := operator.MustRun(t, "host", "power", "status", ipmiMAC); !strings.Contains(out, "power off") {
			t.Fatalf("power status: %q", out)
		}
		operator.MustRun(t, "host", "reprovision", ipmiMAC, "--power-cycle", "--uefi")
		if got, want := sim.Log(), []string{"boot_pxe", "power_1"}; !slices.Equal(got, want) {
			t.Fatalf("ipmi chassis saw %v, want %v (off host: boot pxe, then on)", got, want)
		}
		var h podmgr.Host
		if err := json.Unmarshal([]byte(admin.MustRun(t, "host", "show", ipmiMAC, "-o", "json")), &h); err != nil || !h.Netboot || h.State != podmgr.StateRegistered {
			t.Fatalf("after reprovision: %+v %v", h, err)
		}
		operator.MustRun(t, "host", "power", "cycle", ipmiMAC)
		testutil.WaitFor(t, 10*time.Second, "ipmi_sim to cycle the power", func() bool {
			l := sim.Log()
			return len(l) >= 4 && slices.Equal(l[2:4], []string{"power_0", "power_1"})
		})
		evs := listJSON[podmgr.Event](t, admin, "host", "events", ipmiMAC)
		var acts []string
		for _, e := range evs {
			acts = append(acts, e.Action)
		}
		for _, a := range []string{"bmc.boot-device", "bmc.power.status", "reprovision", "bmc.power.on", "bmc.power.cycle"} {
			if !slices.Contains(acts, a) {
				t.Fatalf("host timeline %v lacks %s", acts, a)
			}
		}
		audit := admin.MustRun(t, "events", "--kind", "audit", "-o", "json")
		if !strings.Contains(audit, "host.bmc.power.cycle") || !strings.Contains(audit, "host.bmc.set") || strings.Contains(audit, ipmiPass) {
			t.Fatalf("audit log lacks the BMC operations or holds a password")
		}
	})

	t.Run("plain reprovision unchanged", func(t *testing.T) {
		before := len(sim.Log())
		if out := operator.MustRun(t, "host", "reprovision", ipmiMAC); !strings.Contains(out, "power-cycle it into PXE to reinstall") {
			t.Fatalf("reprovision without --power-cycle said %q", out)
		}
		if len(sim.Log()) != before {
			t.Fatal("reprovision without --power-cycle reached the BMC")
		}
		if msg := operator.MustFail(t, "host", "reprovision", "--pod", "pod-b"); !strings.Contains(msg, "--pod needs --power-cycle") {
			t.Fatalf("--pod without --power-cycle: %q", msg)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		before := len(sim.Log())
		msg := operator.MustFail(t, "host", "reprovision", wrongMAC, "--power-cycle")
		if !strings.Contains(msg, "auth failed") || !strings.Contains(msg, "nothing was power-cycled") {
			t.Fatalf("wrong password: %q, want 'auth failed' and 'nothing was power-cycled'", msg)
		}
		if len(sim.Log()) != before {
			t.Fatalf("a refused session still reached the chassis: %v", sim.Log())
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		start := time.Now()
		msg := operator.MustFail(t, "host", "power", "status", downMAC)
		if !strings.Contains(msg, "unreachable") || time.Since(start) > 20*time.Second {
			t.Fatalf("unreachable BMC: %q after %v", msg, time.Since(start))
		}
	})

	t.Run("bulk", func(t *testing.T) {
		stdout, stderr, err := operator.Run(context.Background(), "host", "power", "status", "--pod", "pod-b", "--parallel", "2")
		msg := stdout + stderr
		if err == nil {
			t.Fatalf("bulk status with two failing hosts succeeded:\n%s", msg)
		}
		for _, w := range []string{"/4] host " + rfMAC + ": power on", "/4] host " + ipmiMAC + ": power on", wrongMAC + ": FAILED", "2 of 4 hosts of pod pod-b failed"} {
			if !strings.Contains(msg, w) {
				t.Fatalf("bulk status output lacks %q:\n%s", w, msg)
			}
		}
	})

	t.Run("rotate key", func(t *testing.T) {
		keyFile := filepath.Join(srv.DataDir, "bmc.key")
		oldKey, _ := os.ReadFile(keyFile)
		if err := srv.Stop(t); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "bmc", "rotate-key", "--data-dir", srv.DataDir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "re-sealed 4 BMC passwords") {
			t.Fatalf("rotate-key: %v: %s", err, out)
		}
		if newKey, _ := os.ReadFile(keyFile); bytes.Equal(oldKey, newKey) || len(newKey) == 0 {
			t.Fatal("the key file did not change")
		}
		again := testutil.NewCLI(t, bin, testutil.StartServe(t, bin, srv.DataDir))
		if out := again.MustRun(t, "host", "power", "status", rfMAC); !strings.Contains(out, "power on") {
			t.Fatalf("after rotation: %q", out)
		}
	})
}
