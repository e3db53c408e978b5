package stage1

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// RequiredModules are loaded by the agent on every host: the virtio transport, NIC and
// disk, which is what virtual machines and most clouds' bare-metal emulation present.
var requiredModules = []string{"virtio_pci", "virtio_net", "virtio_blk"}

// optionalModules are common server NICs and disk controllers (and virtio-rng, which
// seeds the kernel CRNG in VMs: TLS needs it before anything else), taken when the kernel
// has them as modules (built-in or absent ones are skipped with a note).
var optionalModules = []string{"e1000e", "e1000", "igb", "ixgbe", "i40e", "ice", "mlx5_core", "bnxt_en", "nvme", "ahci", "virtio_scsi", "sd_mod", "virtio_rng"}

// DefaultModules is the module set a stage1 build starts from.
func DefaultModules() []string { return slices.Concat(requiredModules, optionalModules) }

// moduleSet is the modules found in a kernel's module tree.
type moduleSet struct {
	infos map[string]kmod.Info
	paths map[string]string
}

// scanModules reads every .ko under dir. Compressed modules (.ko.xz, .ko.zst) are
// counted so the caller can say why they were not used.
func scanModules(dir string) (moduleSet, int, error) {
	ms := moduleSet{infos: map[string]kmod.Info{}, paths: map[string]string{}}
	compressed := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasSuffix(p, ".ko.xz") || strings.HasSuffix(p, ".ko.zst") || strings.HasSuffix(p, ".ko.gz") {
			compressed++
			return nil
		}
		if !strings.HasSuffix(p, ".ko") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := kmod.ReadInfo(f)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if info.Name == "" {
			info.Name = kmod.Canonical(p)
		}
		ms.infos[info.Name] = info
		ms.paths[info.Name] = p
		return nil
	})
	if err != nil {
		return ms, 0, fmt.Errorf("scan kernel modules in %s: %w", dir, err)
	}
	return ms, compressed, nil
}

// unpackDeb extracts a Debian package (a linux-image-* .deb) into a new directory
// under tmp with dpkg-deb, which every Debian host has; Go has no xz decoder in its
// standard library.
func unpackDeb(ctx context.Context, deb, tmp string) (string, error) {
	dir, err := os.MkdirTemp(tmp, "deb-*")
	if err != nil {
		return "", fmt.Errorf("unpack %s: %w", deb, err)
	}
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("unpack %s with dpkg-deb: %w: %s", deb, err, strings.TrimSpace(string(out)))
	}
	return dir, nil
}

// findKernel returns the one boot/vmlinuz-* inside an unpacked kernel package.
func findKernel(root string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(m) != 1 {
		return "", fmt.Errorf("expected one boot/vmlinuz-* in the kernel package, found %d: pass --kernel", len(m))
	}
	return m[0], nil
}
