package pxe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestSecureBootDistroTFTP: a host of a secureBoot: distro profile is served the signed
// chain's files over TFTP (atftp, as grub would ask): the global grub/grub.cfg (to any
// source, with or without the leading slash), its own grub.cfg with the kernel and
// initrd on its TFTP directory and a token, grubx64.efi and shimx64.efi; a host of
// another profile gets no grub.cfg, nor does a wrong source. The timeline records that
// the initrd is not authenticated.
func TestSecureBootDistroTFTP(t *testing.T) {
	need(t, "atftp")
	f := newFixture(t, nil)
	ctx := context.Background()
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	for _, name := range []string{podmgr.ShimName, podmgr.GrubName} {
		if _, err := f.store.Ingest(ctx, artifact.Meta{Name: name, Version: "1", Kind: artifact.KindBootloader}, strings.NewReader("signed "+name), nil); err != nil {
			t.Fatal(err)
		}
	}
	// pod-a's profile turns Secure Boot on: hostA is the Secure Boot host.
	sb := podmgr.Profile{Name: "prof-a", SecureBoot: podmgr.SecureBootDistro, Kernel: "vmlinuz@1", Initrd: "initrd.img", KernelArgs: "console=ttyS0", Stage2: "os@1"}
	if _, _, err := f.mgr.ApplyProfile(ctx, admin, sb, false); err != nil {
		t.Fatal(err)
	}
	const macSB = macA
	get := func(remote string) (string, error) {
		out := filepath.Join(t.TempDir(), "out")
		msg, err := exec.Command("atftp", "-g", "-r", remote, "-l", out, "127.0.0.1", tftpPort(f)).CombinedOutput()
		if err != nil {
			return string(msg), err
		}
		b, err := os.ReadFile(out)
		return string(b), err
	}
	for _, name := range []string{"grub/grub.cfg", "/grub/grub.cfg"} {
		if got, err := get(name); err != nil || !strings.Contains(got, "configfile $cmdpath/grub.cfg") {
			t.Errorf("%s: %v %q", name, err, got)
		}
	}
	cfg, err := get(tftpPath("pod-a", macSB, "grub.cfg"))
	if err != nil {
		t.Fatalf("per-host grub.cfg: %v %s", err, cfg)
	}
	for _, want := range []string{
		"linux (tftp,127.0.0.1)pod-a/52-54-00-00-00-0a/vmlinuz console=ttyS0 podboot.server=https://127.0.0.1",
		"podboot.mac=" + macSB + " podboot.token=pbh_",
		"initrd (tftp,127.0.0.1)pod-a/52-54-00-00-00-0a/initrd.img\n", "boot\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
	for _, name := range []string{podmgr.ShimName, podmgr.GrubName, "vmlinuz"} {
		if _, err := get(tftpPath("pod-a", macSB, name)); err != nil {
			t.Errorf("%s for the Secure Boot host: %v", name, err)
		}
	}
	for name, remote := range map[string]string{
		"grub.cfg of a host without secureBoot": tftpPath("pod-b", macB, "grub.cfg"),
		"grub.cfg from another source":          tftpPath("pod-a", macFar, "grub.cfg"),
		"grubx64.efi of a host without it":      tftpPath("pod-b", macB, podmgr.GrubName),
		"another global grub file":              "grub/x86_64-efi/command.lst",
	} {
		if got, err := get(remote); err == nil {
			t.Errorf("%s: served %q", name, got)
		}
	}
	evs, err := f.mgr.HostEvents(ctx, macSB)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range evs {
		found = found || e.Action == "tftp.grubcfg" && strings.Contains(e.Detail, "initrd is NOT authenticated")
	}
	if !found {
		t.Errorf("no tftp.grubcfg event naming the unauthenticated initrd: %+v", evs)
	}
}
