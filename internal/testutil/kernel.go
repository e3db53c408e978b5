package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// KernelCacheDir keeps the Debian kernel package between runs (PODBOOT_E2E_CACHE, or a
// directory under the system temp dir); every QEMU test shares it, so CI downloads the
// ~70 MB package once.
func KernelCacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PODBOOT_E2E_CACHE")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "podboot-e2e-cache")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Run runs a command in dir and returns its combined output; a failure fails the test.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// DebianCloudKernelDeb returns Debian's current cloud kernel package (.deb), fetched
// once with apt-get download.
func DebianCloudKernelDeb(t testing.TB) string {
	t.Helper()
	dir := KernelCacheDir(t)
	resolve := func() (string, string) {
		out, _ := exec.Command("apt-cache", "depends", "linux-image-cloud-amd64").CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: "); ok && strings.HasPrefix(v, "linux-image-") {
				return v, string(out)
			}
		}
		return "", string(out)
	}
	pkg, out := resolve()
	if pkg == "" {
		// A fresh machine may have no package lists yet.
		Run(t, dir, "apt-get", "update", "-qq")
		if pkg, out = resolve(); pkg == "" {
			t.Fatalf("cannot resolve linux-image-cloud-amd64 (the Debian cloud kernel):\n%s", out)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb")); len(m) == 1 {
		return m[0]
	}
	cmd := exec.Command("apt-get", "download", pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		// The package lists may be stale on a fresh machine.
		Run(t, dir, "apt-get", "update", "-qq")
		cmd = exec.Command("apt-get", "download", pkg)
		cmd.Dir = dir
		if b2, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s: %v\n%s\n%s", pkg, err, b, b2)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) != 1 {
		t.Fatalf("downloaded %s but found %v", pkg, m)
	}
	return m[0]
}

// DebianCloudVmlinuz returns the vmlinuz of DebianCloudKernelDeb, unpacked once.
func DebianCloudVmlinuz(t testing.TB) string {
	t.Helper()
	deb := DebianCloudKernelDeb(t)
	out := strings.TrimSuffix(deb, ".deb") + ".unpacked"
	if m, _ := filepath.Glob(filepath.Join(out, "boot", "vmlinuz-*")); len(m) == 1 {
		return m[0]
	}
	tmp, err := os.MkdirTemp(filepath.Dir(deb), ".unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	Run(t, tmp, "dpkg-deb", "-x", deb, tmp)
	if err := os.Rename(tmp, out); err != nil && !os.IsExist(err) {
		t.Fatalf("unpack %s: %v", deb, err)
	}
	m, _ := filepath.Glob(filepath.Join(out, "boot", "vmlinuz-*"))
	if len(m) != 1 {
		t.Fatalf("no vmlinuz in %s", deb)
	}
	return m[0]
}
