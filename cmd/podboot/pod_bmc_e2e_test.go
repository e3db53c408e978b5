package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

var powerState = regexp.MustCompile(`power (on|off)`)

// TestPodBMCDefaultsThroughCLI: a pod's `bmc:` defaults, applied with `pod apply`
// through the real binary, reach an ipmi_sim BMC for a host that has only an address;
// a host's own user overrides the pod's; the password is sealed (not in the database
// file), never shown by `pod show` (which says "set"), and kept by a later apply that
// names no password file or has no bmc section at all.
func TestPodBMCDefaultsThroughCLI(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	srv := testutil.StartServe(t, bin, t.TempDir())
	admin := testutil.NewCLI(t, bin, srv)
	files := t.TempDir()
	const (
		pass              = "pod-Secret-90417"
		plainMAC, userMAC = "52:54:00:bd:00:01", "52:54:00:bd:00:02"
	)
	sim := testutil.StartIPMISim(t, "127.0.0.1", pass)
	writeFile(t, files, "bmc.pw", pass+"\n")
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod0.yaml", podBYAML))
	if js := admin.MustRun(t, "pod", "show", "pod-b", "-o", "json"); strings.Contains(js, `"bmc"`) {
		t.Fatalf("pod show of a pod without BMC defaults: %s", js)
	}
	podBMC := fmt.Sprintf("bmc:\n  driver: ipmi\n  port: %d\n  user: admin\n", sim.Port)
	out := admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", podBYAML+podBMC+"  passwordFile: bmc.pw\n"))
	if !strings.Contains(out, "pod pod-b: bmc defaults set (driver ipmi, user admin, password sealed)") || strings.Contains(out, pass) {
		t.Fatalf("pod apply said %q", out)
	}
	for _, mac := range []string{plainMAC, userMAC} {
		admin.MustRun(t, "host", "add", mac, "--pod", "pod-b")
	}
	admin.MustRun(t, "host", "bmc", "set", plainMAC, "--address", "127.0.0.1")
	admin.MustRun(t, "host", "bmc", "set", userMAC, "--address", "127.0.0.1", "--user", "nobody")

	powerStatus := func(t *testing.T, mac string) (string, error) {
		t.Helper()
		stdout, stderr, err := admin.Run(context.Background(), "host", "power", "status", mac)
		return stdout + stderr, err
	}
	t.Run("host without credentials uses the pod's", func(t *testing.T) {
		out, err := powerStatus(t, plainMAC)
		if err != nil || !powerState.MatchString(out) {
			t.Fatalf("power status: %v: %s", err, out)
		}
	})
	t.Run("host's own user overrides the pod's", func(t *testing.T) {
		out, err := powerStatus(t, userMAC)
		if err == nil || !strings.Contains(out, "bmc auth failed") {
			t.Fatalf("power status with user nobody: %v: %s, want bmc auth failed", err, out)
		}
	})
	t.Run("password never shown nor stored in clear", func(t *testing.T) {
		js := admin.MustRun(t, "pod", "show", "pod-b", "-o", "json")
		if strings.Contains(js, pass) || !strings.Contains(js, `"password": "set"`) || !strings.Contains(js, `"user": "admin"`) {
			t.Fatalf("pod show -o json: %s", js)
		}
		table := admin.MustRun(t, "pod", "show", "pod-b")
		if strings.Contains(table, pass) || !strings.Contains(table, "password: set") {
			t.Fatalf("pod show: %s", table)
		}
		db, err := os.ReadFile(filepath.Join(srv.DataDir, "podboot.db"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(db), pass) {
			t.Fatal("the database file holds the pod's BMC password in clear")
		}
	})
	t.Run("apply without passwordFile keeps the password", func(t *testing.T) {
		out := admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod2.yaml", podBYAML+podBMC))
		if !strings.Contains(out, "password kept") {
			t.Fatalf("pod apply said %q", out)
		}
		if out, err := powerStatus(t, plainMAC); err != nil || !powerState.MatchString(out) {
			t.Fatalf("power status after the re-apply: %v: %s", err, out)
		}
	})
	t.Run("apply without a bmc section leaves the defaults", func(t *testing.T) {
		admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod0.yaml", podBYAML))
		if out, err := powerStatus(t, plainMAC); err != nil || !powerState.MatchString(out) {
			t.Fatalf("power status after an apply without bmc: %v: %s", err, out)
		}
	})
	t.Run("missing password file changes nothing", func(t *testing.T) {
		_, stderr, err := admin.Run(context.Background(), "pod", "apply", "-f", writeFile(t, files, "pod3.yaml", podBYAML+podBMC+"  passwordFile: missing.pw\n"))
		if err == nil || !strings.Contains(stderr, "missing.pw") {
			t.Fatalf("apply with a missing password file: %v: %s", err, stderr)
		}
	})
}
