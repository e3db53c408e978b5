package uki

import (
	"context"
	"debug/pe"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultStub is where Debian's systemd-boot-efi installs the x86-64 UKI stub.
const DefaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// Input is what one UKI is made of. Nothing per host belongs in it: the same image
// serves every host of a profile.
type Input struct {
	Stub    string // the EFI stub (DefaultStub)
	Kernel  string // vmlinuz
	Initrd  string // initrd.img
	Cmdline string // the kernel command line, signed with the rest
	OSRel   string // os-release text shown by boot menus (optional)
}

// section is one added PE section: name and the file holding its bytes.
type section struct{ name, file string }

// Build writes the unsigned UKI to out (atomically).
func Build(ctx context.Context, in Input, out string) error {
	if strings.ContainsAny(in.Cmdline, "\n\x00") {
		return fmt.Errorf("uki: the command line must be one line")
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".uki-*")
	if err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	defer os.RemoveAll(tmp)
	osrel := in.OSRel
	if osrel == "" {
		osrel = "NAME=podboot stage1\nID=podboot-stage1\nPRETTY_NAME=\"podboot stage1\"\n"
	}
	texts := map[string]string{".osrel": osrel, ".cmdline": in.Cmdline + "\x00"}
	for name, text := range texts {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o600); err != nil {
			return fmt.Errorf("uki: %w", err)
		}
	}
	secs := []section{{".osrel", filepath.Join(tmp, ".osrel")}, {".cmdline", filepath.Join(tmp, ".cmdline")},
		{".linux", in.Kernel}, {".initrd", in.Initrd}}
	args, err := objcopyArgs(in.Stub, secs)
	if err != nil {
		return err
	}
	part := filepath.Join(tmp, "uki.efi")
	if err := run(ctx, "objcopy", append(args, in.Stub, part)...); err != nil {
		return err
	}
	if err := os.Rename(part, out); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	return nil
}

// objcopyArgs places each section after the stub's image and after each other, at
// page-aligned addresses, as systemd's ukify does.
func objcopyArgs(stub string, secs []section) ([]string, error) {
	f, err := pe.Open(stub)
	if err != nil {
		return nil, fmt.Errorf("uki: stub %s: %w", stub, err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return nil, fmt.Errorf("uki: stub %s is not a 64-bit PE", stub)
	}
	const page = 0x1000
	addr := alignUp(uint64(oh.SizeOfImage), page)
	// --strip-all drops the stub's COFF symbol table, which objcopy would otherwise leave
	// after the last section (sbsign: "gaps between PE/COFF sections").
	args := []string{"--strip-all"}
	for _, s := range secs {
		st, err := os.Stat(s.file)
		if err != nil {
			return nil, fmt.Errorf("uki: section %s: %w", s.name, err)
		}
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", fmt.Sprintf("%s=0x%x", s.name, oh.ImageBase+addr))
		addr = alignUp(addr+uint64(st.Size()), page)
	}
	return args, nil
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// Sign writes in signed with the Secure Boot key and certificate (PEM) to out,
// atomically.
func Sign(ctx context.Context, in, key, cert, out string) error {
	part := out + ".part"
	defer os.Remove(part)
	if err := run(ctx, "sbsign", "--key", key, "--cert", cert, "--output", part, in); err != nil {
		return err
	}
	if err := os.Rename(part, out); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("uki: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
