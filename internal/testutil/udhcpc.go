package testutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// udhcpcScript records the variables of the bound lease in $OUT.
const udhcpcScript = "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$OUT\"\nexit 0\n"

// Udhcpc runs busybox udhcpc once on the namespace's eth0 with extra options (files in
// dir, named after name) and returns the bound lease's variables, or nil when it got
// none (udhcpc's output is logged then).
func (ns *NS) Udhcpc(t testing.TB, dir, name string, extra ...string) map[string]string {
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
	lease, rerr := os.ReadFile(out)
	if err != nil || rerr != nil {
		t.Logf("udhcpc %s: %v\n%s", name, err, b)
		return nil
	}
	vars := map[string]string{}
	for _, l := range strings.Split(string(lease), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	return vars
}
