package uki

import (
	"bytes"
	"context"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildAndSign builds a UKI from Debian's stub with a kernel, an initrd and a
// command line, checks each section holds the input bytes at page-aligned addresses
// past the stub, signs it with a key from IssueKey and verifies the signature with
// sbverify against that certificate (and not against another key's).
func TestBuildAndSign(t *testing.T) {
	for _, tool := range []string{"objcopy", "sbsign", "sbverify"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v (scripts/deps.sh installs binutils and sbsigntool)", tool, err)
		}
	}
	if _, err := os.Stat(DefaultStub); err != nil {
		t.Fatalf("%v (scripts/deps.sh installs systemd-boot-efi)", err)
	}
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	kb, ib := bytes.Repeat([]byte("K"), 100_001), bytes.Repeat([]byte("I"), 50_003)
	os.WriteFile(kernel, kb, 0o644)
	os.WriteFile(initrd, ib, 0o644)
	cmdline := "console=ttyS0 podboot.server=https://192.0.2.1:8443 podboot.token=fetch"
	unsigned := filepath.Join(dir, "uki.efi")
	if err := Build(context.Background(), Input{Stub: DefaultStub, Kernel: kernel, Initrd: initrd, Cmdline: cmdline}, unsigned); err != nil {
		t.Fatal(err)
	}
	f, err := pe.Open(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{".linux": kb, ".initrd": ib, ".cmdline": []byte(cmdline + "\x00")}
	for name, b := range want {
		s := f.Section(name)
		if s == nil {
			t.Fatalf("no section %s", name)
		}
		got, _ := s.Data()
		if !bytes.Equal(got[:len(b)], b) || s.VirtualAddress%0x1000 != 0 {
			t.Errorf("section %s: %d bytes at 0x%x, want the input's %d bytes page-aligned", name, len(got), s.VirtualAddress, len(b))
		}
	}
	f.Close()

	kf, err := IssueKey("operator-sb", dir, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IssueKey("operator-sb", dir, time.Hour); err == nil {
		t.Error("IssueKey overwrote an existing key")
	}
	other, _ := IssueKey("other", dir, time.Hour)
	signed := filepath.Join(dir, "uki.signed.efi")
	if err := Sign(context.Background(), unsigned, kf.Key, kf.Cert, signed); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbverify", "--cert", kf.Cert, signed).CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("sbverify with the signing cert: %v\n%s", err, out)
	}
	if out, err := exec.Command("sbverify", "--cert", other.Cert, signed).CombinedOutput(); err == nil {
		t.Fatalf("sbverify accepted another key's cert:\n%s", out)
	}
	if err := Build(context.Background(), Input{Stub: DefaultStub, Kernel: kernel, Initrd: initrd, Cmdline: "a\nb"}, unsigned); err == nil || !strings.Contains(err.Error(), "one line") {
		t.Errorf("two-line command line: %v", err)
	}
}
