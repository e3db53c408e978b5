package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

// TestErrorFormat: the CLI's errors read "KIND: OBJECT NAME: detail" (podmgr's order),
// whether the API or the manager found the problem.
func TestErrorFormat(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	s := testutil.StartServe(t, bin, t.TempDir())
	c := testutil.NewCLI(t, bin, s)
	bad := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(bad, []byte("name: pod-b\nmatch:\n  - giaddr: 192.0.2.1\nsubnets:\n  - cidr: 192.0.2.0/24\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pod", "show", "nope"}, "podboot: not found: pod nope"},
		{[]string{"profile", "show", "nope"}, "podboot: not found: profile nope"},
		{[]string{"host", "show", "52:54:00:00:00:99"}, "podboot: not found: host 52:54:00:00:00:99"},
		{[]string{"pod", "apply", "-f", bad}, "podboot: invalid: pod pod-b: set serverAddress"},
	} {
		errs := c.MustFail(t, tc.args...)
		if !strings.HasPrefix(errs, tc.want) {
			t.Errorf("podboot %s: stderr %q, want it to start %q", strings.Join(tc.args, " "), errs, tc.want)
		}
	}
}
