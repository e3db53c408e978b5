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
// names no password file or has no bmc section at all (and says so). A host import row
// with only bmc_address uses the pod's defaults; pod bmc delete is refused (409, naming
// the hosts and fields) while hosts rely on them, and works, audited, once they have
// their own; then an address-only row is refused, naming it, with nothing imported.
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
	t.Run("apply without a bmc section says it keeps the defaults", func(t *testing.T) {
		out := admin.MustRun(t, "pod", "apply", "-f", filepath.Join(files, "pod0.yaml"))
		if !strings.Contains(out, "pod pod-b: no bmc section: its bmc defaults are kept") {
			t.Fatalf("pod apply without bmc: said %q", out)
		}
	})
	const importedMAC = "52:54:00:bd:00:03"
	t.Run("import row with only bmc_address uses the pod's defaults", func(t *testing.T) {
		csv := writeFile(t, files, "addr.csv", "mac,pod,hostname,bmc_address\n"+importedMAC+",pod-b,imported,127.0.0.1\n")
		if out := admin.MustRun(t, "host", "import", "-f", csv); !strings.Contains(out, "1 BMCs set") {
			t.Fatalf("host import: %s", out)
		}
		if out, err := powerStatus(t, importedMAC); err != nil || !powerState.MatchString(out) {
			t.Fatalf("power status of the imported host: %v: %s", err, out)
		}
	})
	t.Run("pod bmc delete refused while hosts rely on the defaults", func(t *testing.T) {
		_, stderr, err := admin.Run(context.Background(), "pod", "bmc", "delete", "pod-b")
		if err == nil || !strings.Contains(stderr, "409") || !strings.Contains(stderr, plainMAC+" (driver, port, user, password)") || !strings.Contains(stderr, importedMAC) {
			t.Fatalf("pod bmc delete with reliant hosts: %v: %s", err, stderr)
		}
		if js := admin.MustRun(t, "pod", "show", "pod-b", "-o", "json"); !strings.Contains(js, `"password": "set"`) {
			t.Fatalf("defaults after the refused delete: %s", js)
		}
	})
	t.Run("pod bmc delete once hosts have their own", func(t *testing.T) {
		for _, mac := range []string{plainMAC, userMAC, importedMAC} {
			admin.MustRun(t, "host", "bmc", "set", mac, "--driver", "ipmi", "--address", "127.0.0.1", "--port", fmt.Sprint(sim.Port),
				"--user", "admin", "--password-file", filepath.Join(files, "bmc.pw"))
		}
		if out := admin.MustRun(t, "pod", "bmc", "delete", "pod-b"); !strings.Contains(out, "bmc defaults deleted") {
			t.Fatalf("pod bmc delete: %s", out)
		}
		if js := admin.MustRun(t, "pod", "show", "pod-b", "-o", "json"); strings.Contains(js, `"bmc"`) {
			t.Fatalf("pod show after the delete: %s", js)
		}
		if out, err := powerStatus(t, plainMAC); err != nil || !powerState.MatchString(out) {
			t.Fatalf("power status with the host's own credentials: %v: %s", err, out)
		}
		if ev := admin.MustRun(t, "events", "--kind", "audit", "-o", "json"); !strings.Contains(ev, "pod.bmc.delete") || strings.Contains(ev, pass) {
			t.Fatalf("audit log after the delete: %s", ev)
		}
		admin.MustFail(t, "pod", "bmc", "delete", "pod-b")
	})
	t.Run("import row with only bmc_address refused without pod defaults", func(t *testing.T) {
		const mac = "52:54:00:bd:00:04"
		csv := writeFile(t, files, "addr2.csv", "mac,pod,hostname,bmc_address\n52:54:00:bd:00:05,pod-b,fine,\n"+mac+",pod-b,nodefaults,127.0.0.1\n")
		_, stderr, err := admin.Run(context.Background(), "host", "import", "-f", csv)
		if err == nil || !strings.Contains(stderr, "host "+mac) || !strings.Contains(stderr, "pod pod-b has no bmc defaults") || !strings.Contains(stderr, "nothing was imported") {
			t.Fatalf("import of an address-only row into a pod without defaults: %v: %s", err, stderr)
		}
		for _, m := range []string{mac, "52:54:00:bd:00:05"} {
			admin.MustFail(t, "host", "show", m)
		}
	})
	t.Run("missing password file changes nothing", func(t *testing.T) {
		_, stderr, err := admin.Run(context.Background(), "pod", "apply", "-f", writeFile(t, files, "pod3.yaml", podBYAML+podBMC+"  passwordFile: missing.pw\n"))
		if err == nil || !strings.Contains(stderr, "missing.pw") {
			t.Fatalf("apply with a missing password file: %v: %s", err, stderr)
		}
	})
}
