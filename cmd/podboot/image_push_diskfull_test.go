package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mountTmpfs mounts a tmpfs of size (e.g. "8m") on a fresh directory and unmounts it when
// the test ends. It needs root: in CI (CI set) that is a failure, locally a loud skip.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test must run as root in CI: it mounts a tmpfs to fill the disk")
		}
		t.Skip("SKIPPED (not root): the full-disk push test needs root to mount a tmpfs; run it as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "podboot-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// TestImagePushDiskFull pushes an image larger than the free space of the data dir (an
// 8 MiB tmpfs): the CLI gets a clear 507, nothing partial stays (no temporary file, no
// blob, no record), and once there is room again a push succeeds.
func TestImagePushDiskFull(t *testing.T) {
	dataDir := mountTmpfs(t, "8m")
	env := startPushServe(t, dataDir, "images: {}\n")
	work := t.TempDir()
	good, _ := refusalCases(t, env.bin, work, env.ca, randomBytes(t, 64<<10))

	huge := filepath.Join(work, "huge.img")
	if err := os.WriteFile(huge, randomBytes(t, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	hugeSig := signFile(t, env.bin, work, huge)
	before := env.state(t)
	errs := env.ci.MustFail(t, "image", "push", "huge:1", huge, "--sig", hugeSig)
	for _, want := range []string{"HTTP 507", "out of disk space", "nothing was stored"} {
		if !strings.Contains(errs, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errs)
		}
	}
	env.assertUnchanged(t, before)

	if out := env.ci.MustRun(t, "image", "push", "stage2:1", good.file, "--sig", good.sig); !strings.Contains(out, "pushed") {
		t.Fatalf("push after the full disk said %q", out)
	}
}
