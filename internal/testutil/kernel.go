package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/stage1"
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
func DebianCloudKernelDeb(t testing.TB) string { return DebianKernelDeb(t, "linux-image-cloud-amd64") }

// DebianGenericKernelDeb returns Debian's current generic kernel package (.deb, the
// stage1 default), fetched once into the shared cache.
func DebianGenericKernelDeb(t testing.TB) string {
	return DebianKernelDeb(t, stage1.DefaultKernelPackage)
}

// DebianKernelDeb returns the package the kernel metapackage meta depends on, fetched
// once into KernelCacheDir the way `podboot stage1 build` does it.
func DebianKernelDeb(t testing.TB, meta string) string {
	t.Helper()
	dir := KernelCacheDir(t)
	deb, err := stage1.FetchKernelDeb(context.Background(), meta, dir)
	if err != nil {
		// A fresh machine may have no or stale package lists.
		Run(t, dir, "apt-get", "update", "-qq")
		if deb, err = stage1.FetchKernelDeb(context.Background(), meta, dir); err != nil {
			t.Fatal(err)
		}
	}
	return deb
}

// DebianCloudVmlinuz returns the vmlinuz of DebianCloudKernelDeb, unpacked once.
func DebianCloudVmlinuz(t testing.TB) string { return DebVmlinuz(t, DebianCloudKernelDeb(t)) }

// DebVmlinuz returns the vmlinuz of a kernel .deb, unpacked once beside it.
func DebVmlinuz(t testing.TB, deb string) string {
	t.Helper()
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
