package stage1iso

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// Loaders are the boot loader files the image carries.
type Loaders struct {
	Isolinux    string // isolinux.bin (BIOS, El Torito no-emulation)
	Ldlinux     string // ldlinux.c32, which isolinux.bin loads
	SystemdBoot string // systemd-bootx64.efi, the UEFI loader (\EFI\BOOT\BOOTX64.EFI)
}

// DebianLoaders are where Debian's isolinux, syslinux-common and systemd-boot-efi put them.
func DebianLoaders() Loaders {
	return Loaders{
		Isolinux:    "/usr/lib/ISOLINUX/isolinux.bin",
		Ldlinux:     "/usr/lib/syslinux/modules/bios/ldlinux.c32",
		SystemdBoot: "/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
	}
}

// Spec is one host's image.
type Spec struct {
	Kernel  string // stage1 kernel file
	Initrd  string // stage1 initrd file
	Cmdline string // the whole kernel command line (podboot.* parameters included)
	Loaders Loaders
}

// ISO paths (ISO9660 level 1 names: isolinux and the firmware read these).
const (
	isoKernel = "/BOOT/VMLINUZ"
	isoInitrd = "/BOOT/INITRD.IMG"
	isoEFIImg = "/BOOT/EFIBOOT.IMG"
	isoParams = "/PODBOOT/CMDLINE.TXT"
)

// Build writes the bootable image to out atomically (a temporary file renamed over out).
func Build(spec Spec, out string) error {
	if strings.ContainsAny(spec.Cmdline, "\n\r") {
		return errors.New("stage1 iso: the kernel command line has a line break")
	}
	for _, f := range []string{spec.Kernel, spec.Initrd, spec.Loaders.Isolinux, spec.Loaders.Ldlinux, spec.Loaders.SystemdBoot} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("stage1 iso: %w", err)
		}
	}
	work, err := os.MkdirTemp(filepath.Dir(out), ".stage1iso-")
	if err != nil {
		return fmt.Errorf("stage1 iso: workspace: %w", err)
	}
	defer os.RemoveAll(work)
	esp := filepath.Join(work, "efiboot.img")
	if err := buildESP(spec, esp); err != nil {
		return err
	}
	tmp := filepath.Join(work, "out.iso")
	if err := buildISO(spec, esp, tmp, filepath.Join(work, "tree")); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("stage1 iso: %w", err)
	}
	return nil
}

// buildISO writes the ISO9660 tree with two El Torito entries: isolinux for BIOS and the
// FAT image for UEFI.
func buildISO(spec Spec, esp, out, tree string) error {
	if err := os.Mkdir(tree, 0o700); err != nil {
		return fmt.Errorf("stage1 iso: %w", err)
	}
	size, err := treeSize(spec.Kernel, spec.Initrd, esp, spec.Loaders.Isolinux, spec.Loaders.Ldlinux)
	if err != nil {
		return err
	}
	size += 4 << 20 // descriptors, directories, catalog
	size = (size + 2047) &^ 2047
	b, err := file.CreateFromPath(out, size)
	if err != nil {
		return fmt.Errorf("stage1 iso: %w", err)
	}
	defer b.Close()
	fs, err := iso9660.Create(b, size, 0, 2048, tree)
	if err != nil {
		return fmt.Errorf("stage1 iso: create iso9660: %w", err)
	}
	cfg := "DEFAULT stage1\nPROMPT 0\nTIMEOUT 0\nLABEL stage1\n  KERNEL " + isoKernel +
		"\n  INITRD " + isoInitrd + "\n  APPEND " + spec.Cmdline + "\n"
	files := []struct{ dst, src, text string }{
		{dst: "/ISOLINUX/ISOLINUX.BIN", src: spec.Loaders.Isolinux},
		{dst: "/ISOLINUX/LDLINUX.C32", src: spec.Loaders.Ldlinux},
		{dst: "/ISOLINUX/ISOLINUX.CFG", text: cfg},
		{dst: isoKernel, src: spec.Kernel},
		{dst: isoInitrd, src: spec.Initrd},
		{dst: isoEFIImg, src: esp},
		{dst: isoParams, text: spec.Cmdline + "\n"},
	}
	for _, f := range files {
		if err := put(fs, f.dst, f.src, f.text); err != nil {
			return err
		}
	}
	bios := &iso9660.ElToritoEntry{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation,
		BootFile: "/ISOLINUX/ISOLINUX.BIN", BootTable: true}
	bios.SetLoadSize(4)
	uefi := &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: isoEFIImg}
	err = fs.Finalize(iso9660.FinalizeOptions{
		VolumeIdentifier: "PODBOOT_STAGE1",
		ElTorito: &iso9660.ElTorito{BootCatalog: "/ISOLINUX/BOOT.CAT",
			Entries: []*iso9660.ElToritoEntry{bios, uefi}},
	})
	if err != nil {
		return fmt.Errorf("stage1 iso: finalize: %w", err)
	}
	return nil
}

// buildESP writes the EFI system partition image: systemd-boot, its one entry, the kernel
// and the initrd (systemd-boot loads them from its own partition).
func buildESP(spec Spec, out string) error {
	size, err := treeSize(spec.Kernel, spec.Initrd, spec.Loaders.SystemdBoot)
	if err != nil {
		return err
	}
	size = size + size/8 + 2<<20
	size = max(size, 8<<20)
	size = (size + 1<<20 - 1) &^ (1<<20 - 1)
	b, err := file.CreateFromPath(out, size)
	if err != nil {
		return fmt.Errorf("stage1 iso: esp: %w", err)
	}
	defer b.Close()
	fs, err := fat16.Create(b, size, 0, 512, "PODBOOT", true)
	if err != nil {
		return fmt.Errorf("stage1 iso: esp: create fat16: %w", err)
	}
	entry := "title podboot stage1\nlinux /vmlinuz\ninitrd /initrd.img\noptions " + spec.Cmdline + "\n"
	files := []struct{ dst, src, text string }{
		{dst: "/EFI/BOOT/BOOTX64.EFI", src: spec.Loaders.SystemdBoot},
		{dst: "/loader/loader.conf", text: "default podboot.conf\ntimeout 0\n"},
		{dst: "/loader/entries/podboot.conf", text: entry},
		{dst: "/vmlinuz", src: spec.Kernel},
		{dst: "/initrd.img", src: spec.Initrd},
	}
	for _, f := range files {
		if err := put(fs, f.dst, f.src, f.text); err != nil {
			return fmt.Errorf("esp: %w", err)
		}
	}
	return nil
}

// put writes one file into fs, from src or, when src is empty, text.
func put(fs filesystem.FileSystem, dst, src, text string) error {
	if err := fs.Mkdir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("stage1 iso: mkdir %s: %w", filepath.Dir(dst), err)
	}
	w, err := fs.OpenFile(dst, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("stage1 iso: create %s: %w", dst, err)
	}
	defer w.Close()
	var r io.Reader = strings.NewReader(text)
	if src != "" {
		f, err := os.Open(src)
		if err != nil {
			return fmt.Errorf("stage1 iso: %w", err)
		}
		defer f.Close()
		r = f
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("stage1 iso: write %s: %w", dst, err)
	}
	return nil
}

// treeSize sums the files' sizes.
func treeSize(files ...string) (int64, error) {
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return 0, fmt.Errorf("stage1 iso: %w", err)
		}
		n += st.Size()
	}
	return n, nil
}
