package stage1

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/podboot/podboot/pkg/agent/kmod"
	"github.com/podboot/podboot/pkg/imagesign"
)

// Paths inside the initrd that the agent relies on.
const (
	// RootCAPath is the pinned root CA: the only trust anchor of the agent.
	RootCAPath = "etc/podboot/root-ca.pem"
	// ModulesDir holds the shipped modules, flat, named NAME.ko.
	ModulesDir = "lib/modules/podboot"
	// ModuleOrderPath lists the modules in load order, for people reading the initrd.
	ModuleOrderPath = "lib/modules/podboot/order"
	// ModprobePath is the kernel's usermode helper for request_module (CONFIG_MODPROBE_PATH):
	// a link to the agent, which loads the module asked for (mlx4_core asks for mlx4_en).
	ModprobePath = "sbin/modprobe"
)

// File names written into the output directory.
const (
	InitrdFile = "initrd.img"
	KernelFile = "vmlinuz"
)

// Options say what goes into a stage1.
type Options struct {
	// Kernel is the vmlinuz to ship beside the initrd; may be empty with ModulesDeb
	// (the package's boot/vmlinuz-* is used).
	Kernel string
	// ModulesDir is a kernel module tree (e.g. /lib/modules/VERSION); or ModulesDeb a
	// linux-image-*.deb to take the modules (and the kernel) from.
	ModulesDir string
	ModulesDeb string
	// RootCA is the PEM file of the root CA the agent pins.
	RootCA string
	// Agent is the static podboot-agent binary.
	Agent string
	// Modules are extra modules to ship besides DefaultModules; a missing one is an error.
	Modules []string
	// FirmwareDebs are Debian firmware-* packages to take the firmware files of the
	// shipped modules from.
	FirmwareDebs []string
	// OutDir receives initrd.img and vmlinuz.
	OutDir string
	// TmpDir is where a .deb is unpacked (default os.TempDir()).
	TmpDir string
}

// Result says what was built.
type Result struct {
	Initrd, Kernel             string
	InitrdSHA256, KernelSHA256 string
	InitrdSize, KernelSize     int64
	// Modules are the shipped modules in load order.
	Modules []string
	// Requested says, per module asked for (defaults and --module), whether it is
	// packed, built into the kernel, or absent.
	Requested []ModuleStatus
	// Firmware are the firmware files packed.
	Firmware []string
	// Notes explain what was skipped (absent optional modules, compressed modules).
	Notes []string
}

// Module states in a ModuleStatus.
const (
	ModulePacked  = "packed"
	ModuleBuiltin = "built in"
	ModuleAbsent  = "absent"
)

// ModuleStatus is what became of one requested module.
type ModuleStatus struct {
	Name   string
	Status string // ModulePacked, ModuleBuiltin or ModuleAbsent
	// MissingFirmware are the firmware files it lists that are not packed.
	MissingFirmware []string
}

// Build makes the initrd and copies the kernel into opts.OutDir. The same options give
// the same bytes.
func Build(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if opts.RootCA == "" || opts.Agent == "" || opts.OutDir == "" {
		return res, errors.New("stage1 build: the root CA, the agent binary and the output directory are required")
	}
	if (opts.ModulesDir == "") == (opts.ModulesDeb == "") {
		return res, errors.New("stage1 build: give exactly one of --modules DIR or --modules-deb FILE.deb")
	}
	caPEM, err := os.ReadFile(opts.RootCA)
	if err != nil {
		return res, fmt.Errorf("stage1 build: read root CA: %w", err)
	}
	if certs, err := imagesign.ParseCertificatesPEM(caPEM); err != nil || len(certs) == 0 {
		return res, fmt.Errorf("stage1 build: root CA %s holds no PEM certificate: %v", opts.RootCA, err)
	}
	agent, err := os.ReadFile(opts.Agent)
	if err != nil {
		return res, fmt.Errorf("stage1 build: read agent: %w", err)
	}
	modDir, kernel := opts.ModulesDir, opts.Kernel
	tmpDir, err := os.MkdirTemp(opts.TmpDir, "podboot-stage1-*")
	if err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	if opts.ModulesDeb != "" {
		root, err := unpackDeb(ctx, opts.ModulesDeb, tmpDir)
		if err != nil {
			return res, fmt.Errorf("stage1 build: %w", err)
		}
		modDir = moduleRoot(root)
		if kernel == "" {
			if kernel, err = findKernel(root); err != nil {
				return res, fmt.Errorf("stage1 build: %w", err)
			}
		}
	}
	if kernel == "" {
		return res, errors.New("stage1 build: --kernel is required")
	}
	tree, err := scanTree(modDir)
	if err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	want := slices.Concat(DefaultModules(), opts.Modules)
	names, missing, err := tree.closure(ctx, want)
	if err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	for _, m := range opts.Modules {
		if slices.Contains(missing, kmod.Canonical(m)) && !tree.builtin[kmod.Canonical(m)] {
			return res, fmt.Errorf("stage1 build: module %s was asked for but is not in %s", m, modDir)
		}
	}
	set := map[string]kmod.Info{}
	tab := kmod.NewTable()
	for _, n := range names {
		set[n] = tree.infos[n]
		tab.Add(tree.infos[n])
	}
	for m, pre := range initRequests {
		for _, a := range pre {
			if tab.Has(m) && len(tab.Match(a)) > 0 {
				tab.AddSoftPre(m, a)
			}
		}
	}
	if res.Modules, err = kmod.Order(set); err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	fw, err := unpackFirmware(ctx, opts, tmpDir)
	if err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	fwFiles := map[string][]byte{}
	for _, n := range res.Modules {
		var lack []string
		for _, f := range tree.infos[n].Firmware {
			if b, ok := fw.find(f); ok {
				fwFiles[f] = b
			} else {
				lack = append(lack, f)
			}
		}
		if len(lack) > 0 {
			res.Notes = append(res.Notes, firmwareNote(n, lack, len(opts.FirmwareDebs) > 0))
		}
	}
	for _, w := range want {
		n := kmod.Canonical(w)
		if slices.ContainsFunc(res.Requested, func(m ModuleStatus) bool { return m.Name == n }) {
			continue
		}
		st := ModuleStatus{Name: n, Status: ModulePacked}
		switch {
		case tree.builtin[n]:
			st.Status = ModuleBuiltin
		case !tree.has(n):
			st.Status = ModuleAbsent
		default:
			for _, f := range tree.infos[n].Firmware {
				if _, ok := fwFiles[f]; !ok {
					st.MissingFirmware = append(st.MissingFirmware, f)
				}
			}
		}
		res.Requested = append(res.Requested, st)
	}

	a := newArchive()
	for _, d := range []string{"dev", "proc", "sys", "tmp", "mnt", "run", "etc/podboot"} {
		a.dir(d, 0o755)
	}
	a.chr("dev/console", 0o600, 5, 1)
	a.chr("dev/null", 0o666, 1, 3)
	a.file("init", 0o755, agent)
	a.file(RootCAPath, 0o644, caPEM)
	a.symlink(ModprobePath, "/init")
	var order bytes.Buffer
	for _, n := range res.Modules {
		a.file(ModulesDir+"/"+n+".ko", 0o644, tree.data[n])
		order.WriteString(n + "\n")
	}
	a.file(ModuleOrderPath, 0o644, order.Bytes())
	for name, write := range map[string]func(io.Writer) error{kmod.AliasFile: tab.WriteAlias, kmod.DepFile: tab.WriteDep, kmod.SoftdepFile: tab.WriteSoftdep} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return res, fmt.Errorf("stage1 build: write %s: %w", name, err)
		}
		a.file(ModulesDir+"/"+name, 0o644, b.Bytes())
	}
	for f, b := range fwFiles {
		a.file(FirmwareDir+"/"+f, 0o644, b)
		res.Firmware = append(res.Firmware, f)
	}
	slices.Sort(res.Firmware)

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return res, err
	}
	if err := a.writeTo(zw); err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	if err := zw.Close(); err != nil {
		return res, fmt.Errorf("stage1 build: compress initrd: %w", err)
	}
	kb, err := os.ReadFile(kernel)
	if err != nil {
		return res, fmt.Errorf("stage1 build: read kernel: %w", err)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return res, fmt.Errorf("stage1 build: create %s: %w", opts.OutDir, err)
	}
	res.Initrd, res.Kernel = filepath.Join(opts.OutDir, InitrdFile), filepath.Join(opts.OutDir, KernelFile)
	if err := writeFile(res.Initrd, buf.Bytes()); err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	if err := writeFile(res.Kernel, kb); err != nil {
		return res, fmt.Errorf("stage1 build: %w", err)
	}
	res.InitrdSHA256, res.InitrdSize = sha(buf.Bytes()), int64(buf.Len())
	res.KernelSHA256, res.KernelSize = sha(kb), int64(len(kb))
	return res, nil
}

// unpackFirmware unpacks the --firmware-deb packages.
func unpackFirmware(ctx context.Context, opts Options, tmp string) (firmwareRoots, error) {
	var roots firmwareRoots
	for _, deb := range opts.FirmwareDebs {
		root, err := unpackDeb(ctx, deb, tmp)
		if err != nil {
			return nil, err
		}
		before := len(roots)
		roots.addPackage(root)
		if len(roots) == before {
			return nil, fmt.Errorf("firmware package %s has no lib/firmware or usr/lib/firmware", deb)
		}
	}
	return roots, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes data atomically (temporary file, fsync, rename).
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
