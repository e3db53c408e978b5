package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

// TestApplyWarnsOfMissingBootloaders: profile apply and pod apply warn (and still
// succeed) while the profile's BIOS or UEFI bootloader is not in the store, and say how
// to add it from Debian's ipxe package; once added, no warning.
func TestApplyWarnsOfMissingBootloaders(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	s := testutil.StartServe(t, bin, t.TempDir())
	c := testutil.NewCLI(t, bin, s)
	dir := t.TempDir()
	prof := filepath.Join(dir, "profile.yaml")
	pod := filepath.Join(dir, "pod.yaml")
	os.WriteFile(prof, []byte("name: default\nkernelArgs: console=ttyS0\n"), 0o644)
	os.WriteFile(pod, []byte("name: pod-a\nmatch:\n  - giaddr: 192.0.2.1\nsubnets:\n  - cidr: 192.0.2.0/24\nserverAddress: 198.51.100.10\nprofile: default\n"), 0o644)
	ctx := context.Background()
	apply := func(kind, file string) string {
		t.Helper()
		out, errs, err := c.Run(ctx, kind, "apply", "-f", file)
		if err != nil {
			t.Fatalf("%s apply: %v\n%s%s", kind, err, out, errs)
		}
		return errs
	}
	for _, kind := range []struct{ cmd, file string }{{"profile", prof}, {"pod", pod}} {
		errs := apply(kind.cmd, kind.file)
		for _, want := range []string{
			"warning: profile default: BIOS bootloader undionly.kpxe is not in the artifact store",
			"podboot image add undionly.kpxe:1 /usr/lib/ipxe/undionly.kpxe --kind bootloader",
			"warning: profile default: UEFI x86-64 bootloader ipxe.efi is not in the artifact store",
		} {
			if !strings.Contains(errs, want) {
				t.Errorf("%s apply: stderr does not say %q:\n%s", kind.cmd, want, errs)
			}
		}
	}
	// The files themselves are not needed to test the check: any bytes named right.
	for _, name := range []string{"undionly.kpxe", "ipxe.efi"} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte("bootloader "+name), 0o644)
		c.MustRun(t, "image", "add", f, "--kind", "bootloader")
	}
	for _, kind := range []struct{ cmd, file string }{{"profile", prof}, {"pod", pod}} {
		if errs := apply(kind.cmd, kind.file); strings.Contains(errs, "warning") {
			t.Errorf("%s apply warns with both bootloaders in the store:\n%s", kind.cmd, errs)
		}
	}
}
