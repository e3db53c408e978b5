package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/artifact"
)

// TestImageAddShapes: image add takes NAME:VERSION FILE like image push; FILE alone is
// its base name at version 1; the old --name/--version flags still work with a
// deprecation note; mixing both shapes is a usage error that stores nothing.
func TestImageAddShapes(t *testing.T) {
	env := startPushServe(t, t.TempDir(), "")
	dir := t.TempDir()
	file := filepath.Join(dir, "undionly.kpxe")
	if err := os.WriteFile(file, []byte("a bootloader"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := env.admin.MustRun(t, "image", "add", "ipxe-bios:2", file, "--kind", "bootloader"); !strings.Contains(out, "image ipxe-bios@2 added") {
		t.Errorf("NAME:VERSION FILE: %q", out)
	}
	if out := env.admin.MustRun(t, "image", "add", file, "--kind", "bootloader"); !strings.Contains(out, "image undionly.kpxe@1 added") {
		t.Errorf("FILE alone: %q", out)
	}
	out, errs, err := env.admin.Run(t.Context(), "image", "add", file, "--kind", "bootloader", "--name", "old", "--version", "3")
	if err != nil || !strings.Contains(out, "image old@3 added") || !strings.Contains(errs, "deprecated, give NAME:VERSION FILE instead") {
		t.Errorf("old flags: err %v, out %q, stderr %q", err, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "add", "x:1", file, "--kind", "bootloader", "--name", "y"}, "without --name or --version"},
		{[]string{"image", "add", "x", file, "--kind", "bootloader"}, "give NAME:VERSION"},
	} {
		if errs := env.admin.MustFail(t, c.args...); !strings.Contains(errs, c.want) || !strings.Contains(errs, "usage: podboot image add NAME:VERSION FILE") {
			t.Errorf("%v: %s", c.args, errs)
		}
	}
	var refs []string
	for _, a := range listJSON[artifact.Artifact](t, env.admin, "image", "list") {
		refs = append(refs, a.Ref())
	}
	if got := strings.Join(refs, " "); got != "ipxe-bios@2 old@3 undionly.kpxe@1" {
		t.Errorf("store holds %s", got)
	}
}
