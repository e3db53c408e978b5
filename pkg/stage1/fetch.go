package stage1

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultKernelPackage is the kernel a stage1 is built from when no modules are
// given: Debian's generic kernel, which has the drivers of real servers (the cloud
// kernel lacks e1000e, igb, ixgbe, i40e, ice, bnxt_en, AHCI and RAID controllers).
const DefaultKernelPackage = "linux-image-amd64"

// ResolveKernelPackage returns the versioned package a kernel metapackage (e.g.
// linux-image-amd64) depends on, as apt knows it.
func ResolveKernelPackage(ctx context.Context, meta string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: "); ok && strings.HasPrefix(v, "linux-image-") {
			return v, nil
		}
	}
	return "", fmt.Errorf("resolve %s with apt-cache (run apt-get update?): %v: %s", meta, err, strings.TrimSpace(string(out)))
}

// FetchKernelDeb returns the .deb of the kernel meta depends on, downloaded once
// into cacheDir with apt-get download (the same cache serves every later build).
func FetchKernelDeb(ctx context.Context, meta, cacheDir string) (string, error) {
	pkg, err := ResolveKernelPackage(ctx, meta)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("kernel cache %s: %w", cacheDir, err)
	}
	if m, _ := filepath.Glob(filepath.Join(cacheDir, pkg+"_*.deb")); len(m) == 1 {
		return m[0], nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
	cmd.Dir = cacheDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s (run apt-get update?): %w: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	m, _ := filepath.Glob(filepath.Join(cacheDir, pkg+"_*.deb"))
	if len(m) != 1 {
		return "", fmt.Errorf("apt-get download %s: expected one %s_*.deb in %s, found %v", pkg, pkg, cacheDir, m)
	}
	return m[0], nil
}
