package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

// TestUsageErrors: the argument mistakes of a new operator get the usage line and what
// they probably meant, from the real binary (no server needed: parsing fails first).
func TestUsageErrors(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	for _, tc := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"pod", "apply", "pod-a.yaml"}, []string{"usage: podboot pod apply -f POD.yaml", "did you mean -f pod-a.yaml?"}},
		{[]string{"pod", "register", "pod-b", "--cidr", "192.0.2.0/24"}, []string{"unknown flag: --cidr", "usage: podboot pod register NAME", "did you mean --subnet?"}},
		{[]string{"host", "add", "--pod", "pod-a"}, []string{"usage: podboot host add MAC --pod POD", "see 'podboot host add --help'"}},
		{[]string{"host", "add", "52:54:00:00:00:01", "--pdo", "pod-a"}, []string{"did you mean --pod?"}},
		{[]string{"pod", "register", "pod-b", "--profile", "default"}, []string{"missing a match rule (--giaddr ADDR", "--subnet CIDR, --server-address ADDR", "usage: podboot pod register NAME"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			for _, w := range tc.wants {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Count(string(out), "usage:") != 1 || strings.Contains(string(out), "Usage:") {
				t.Errorf("want the usage line once, not cobra's whole help:\n%s", out)
			}
		})
	}
}

func TestRequiredFlagsMarked(t *testing.T) {
	root := newRootCmd()
	add, _, err := root.Find([]string{"host", "add"})
	if err != nil {
		t.Fatal(err)
	}
	if f := add.Flags().Lookup("pod"); f == nil || !strings.HasSuffix(f.Usage, "(required)") {
		t.Fatalf("host add --pod is not marked required in its help: %+v", f)
	}
}
