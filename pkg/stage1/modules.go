package stage1

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// requiredModules are the virtio transport, NIC and disk: what virtual machines and
// most clouds' bare-metal emulation present.
var requiredModules = []string{"virtio_pci", "virtio_net", "virtio_blk"}

// optionalModules are the NICs and disk controllers of the servers people own (and
// virtio-rng, which seeds the kernel CRNG in VMs: TLS needs it before anything else),
// taken when the kernel has them as modules. mlx4_en has no modalias: mlx4_core asks
// for it through the kernel's usermode modprobe, which the agent answers.
var optionalModules = []string{
	"e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "ice", "bnxt_en", "tg3", "mlx4_core", "mlx4_en", "mlx5_core",
	"be2net", "qede", "r8169", "vmxnet3",
	"ahci", "nvme", "megaraid_sas", "mpt3sas", "smartpqi", "hpsa", "vmw_pvscsi", "virtio_scsi", "sd_mod",
	"virtio_rng",
	// The BMC's LAN address for the inventory: ipmi_si binds the system interface by
	// modalias; ipmi_devintf (no modalias) gives /dev/ipmi0 and the agent loads it.
	"ipmi_si", "ipmi_devintf",
	// The root file system the agent mounts to apply the kickstart: a module in the
	// generic kernel, with the crc32c it asks for by alias (softdep pre: crypto-crc32c).
	"ext4", "crc32c_generic", "crc32c_intel",
	// The crypto algorithms crc_t10dif and crc64_rocksoft (under sd_mod and nvme) ask
	// for when they load; see initRequests.
	"crct10dif_generic", "crct10dif_pclmul", "crc64_rocksoft_generic",
}

// initRequests are the modules a packed module asks the kernel for from its init
// (request_module, answered by the agent as /sbin/modprobe), named by alias. The
// builder adds them as pre: soft dependencies, as a modprobe.d softdep line would: loaded
// first, the algorithm is registered and the kernel never runs the helper. Each run is
// an exec of the agent; crc_t10dif and crc64_rocksoft each asked twice (crypto-NAME,
// crypto-NAME-all) plus cryptomgr, which cost 0.3 s to 3 s each under QEMU TCG and held
// up sd_mod and nvme behind them (docs/benchmarks.md). crc_t10dif's own softdep
// "crct10dif" covers it once its providers are packed; crc64_rocksoft's names the
// library crc64, not the algorithm.
var initRequests = map[string][]string{
	"crc64_rocksoft": {"crypto-crc64-rocksoft"},
}

// DefaultModules is the module set a stage1 build starts from.
func DefaultModules() []string { return slices.Concat(requiredModules, optionalModules) }

// moduleTree is a kernel's module tree: every module file by name, read lazily (a
// generic kernel has over 4000; a build needs about 60).
type moduleTree struct {
	dir     string
	paths   map[string]string
	builtin map[string]bool
	infos   map[string]kmod.Info
	data    map[string][]byte // uncompressed ELF of modules read so far
}

// moduleSuffixes are the module file names a tree may hold: Debian 13 kernels
// compress every module.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// scanTree indexes the module files under dir (a /lib/modules/VERSION, or a
// directory holding one) and its modules.builtin.
func scanTree(dir string) (*moduleTree, error) {
	t := &moduleTree{dir: dir, paths: map[string]string{}, builtin: map[string]bool{}, infos: map[string]kmod.Info{}, data: map[string][]byte{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "modules.builtin" && d.Type().IsRegular() {
			return t.readBuiltin(p)
		}
		if !d.Type().IsRegular() || !slices.ContainsFunc(moduleSuffixes, func(s string) bool { return strings.HasSuffix(p, s) }) {
			return nil
		}
		name := kmod.Canonical(p)
		if old, ok := t.paths[name]; !ok || p < old {
			t.paths[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan kernel modules in %s: %w", dir, err)
	}
	return t, nil
}

func (t *moduleTree) readBuiltin(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			t.builtin[kmod.Canonical(l)] = true
		}
	}
	return sc.Err()
}

// has reports whether the tree holds the module as a file.
func (t *moduleTree) has(name string) bool { _, ok := t.paths[name]; return ok }

// info reads (and decompresses) a module and returns its .modinfo.
func (t *moduleTree) info(ctx context.Context, name string) (kmod.Info, error) {
	if info, ok := t.infos[name]; ok {
		return info, nil
	}
	p, ok := t.paths[name]
	if !ok {
		return kmod.Info{}, fmt.Errorf("module %s is not in %s", name, t.dir)
	}
	b, err := readModule(ctx, p)
	if err != nil {
		return kmod.Info{}, err
	}
	info, err := kmod.ReadInfo(bytes.NewReader(b))
	if err != nil {
		return kmod.Info{}, fmt.Errorf("%s: %w", p, err)
	}
	info.Name = name
	t.infos[name], t.data[name] = info, b
	return info, nil
}

// readModule returns a module's ELF bytes, decompressing .ko.xz and .ko.zst with the
// xz and zstd tools (as dpkg-deb is run: Go's standard library has neither) and
// .ko.gz in Go. The bytes are the signed module: decompressing keeps its appended
// signature valid, so Secure Boot's lockdown accepts it (see docs/agent.md).
func readModule(ctx context.Context, p string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(p, ".ko"):
		return os.ReadFile(p)
	case strings.HasSuffix(p, ".ko.gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", p, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", p, err)
		}
		return b, nil
	case strings.HasSuffix(p, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(p, ".ko.zst"):
		tool = "zstd"
	default:
		return nil, fmt.Errorf("%s: not a kernel module file", p)
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-dc", p)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("decompress %s with %s (install xz-utils / zstd): %w: %s", p, tool, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// closure returns want plus their dependencies and the soft dependencies the tree
// has, sorted; names of want the tree lacks are returned in missing.
func (t *moduleTree) closure(ctx context.Context, want []string) (names, missing []string, err error) {
	seen := map[string]bool{}
	var visit func(n, from string, soft bool) error
	visit = func(n, from string, soft bool) error {
		if seen[n] {
			return nil
		}
		if !t.has(n) {
			switch {
			case from == "":
				missing = append(missing, n)
			case soft || t.builtin[n]:
			default:
				return fmt.Errorf("module %s needs %s, which is not in the kernel's module tree", from, n)
			}
			return nil
		}
		seen[n] = true
		info, err := t.info(ctx, n)
		if err != nil {
			return err
		}
		for _, d := range info.Depends {
			if err := visit(d, n, false); err != nil {
				return err
			}
		}
		for _, d := range slices.Concat(info.SoftPre, info.SoftPost) {
			if err := visit(d, n, true); err != nil {
				return err
			}
		}
		return nil
	}
	for _, w := range want {
		if err := visit(kmod.Canonical(w), "", false); err != nil {
			return nil, nil, err
		}
	}
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, missing, nil
}

// unpackDeb extracts a Debian package (a linux-image-* or firmware-* .deb) into a new
// directory under tmp with dpkg-deb, which every Debian host has; Go has no xz decoder
// in its standard library.
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

// moduleRoot is where an unpacked kernel package keeps its modules: lib/modules, or
// usr/lib/modules (Debian 13, merged /usr).
func moduleRoot(root string) string {
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		if st, err := os.Stat(filepath.Join(root, d)); err == nil && st.IsDir() {
			return filepath.Join(root, d)
		}
	}
	return filepath.Join(root, "lib", "modules")
}
