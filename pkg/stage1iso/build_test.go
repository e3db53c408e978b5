package stage1iso

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestISOBoots builds an image and boots it as a CD in QEMU with SeaBIOS and with OVMF:
// the loader must start the kernel with the image's command line and its initrd. The
// initrd holds no init, so the kernel panics and, with panic=-1 and -no-reboot, QEMU
// exits.
func TestISOBoots(t *testing.T) {
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrd, newcArchive("etc/podboot-test", "marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "stage1.iso")
	spec := Spec{
		Kernel:  testutil.DebianCloudVmlinuz(t),
		Initrd:  initrd,
		Cmdline: "console=ttyS0 panic=-1 podboot.ip=192.0.2.50/24 podboot.test=iso-marker-7",
		Loaders: DebianLoaders(),
	}
	start := time.Now()
	if err := Build(spec, iso); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", iso, time.Since(start))
	vars := filepath.Join(dir, "vars.fd")
	b, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
	if err != nil {
		t.Fatalf("OVMF (Debian package ovmf): %v", err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		firmware []string
	}{
		{name: "bios"},
		{name: "uefi", firmware: []string{
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
			"-drive", "if=pflash,format=raw,unit=1,file=" + vars}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			args := append([]string{"-accel", "tcg", "-machine", "q35", "-m", "512", "-nographic", "-no-reboot",
				"-vga", "none", "-net", "none", "-cdrom", iso, "-boot", "d"}, tc.firmware...)
			out, err := exec.CommandContext(ctx, "qemu-system-x86_64", args...).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("QEMU did not exit within 4 min:\n%s", tail(out))
			}
			if err != nil {
				t.Fatalf("qemu: %v\n%s", err, tail(out))
			}
			for _, want := range []string{"Kernel command line:", "podboot.test=iso-marker-7", "Freeing initrd memory"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("serial console lacks %q:\n%s", want, tail(out))
				}
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := Loaders{Isolinux: f, Ldlinux: f, SystemdBoot: f}
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{name: "line break", spec: Spec{Kernel: f, Initrd: f, Cmdline: "a\nb", Loaders: l}, want: "line break"},
		{name: "no kernel", spec: Spec{Kernel: filepath.Join(dir, "nope"), Initrd: f, Loaders: l}, want: "nope"},
		{name: "no loader", spec: Spec{Kernel: f, Initrd: f, Loaders: Loaders{Isolinux: f, Ldlinux: f, SystemdBoot: filepath.Join(dir, "sdboot")}}, want: "sdboot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out.iso")
			err := Build(tc.spec, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("a failed build left %s", out)
			}
		})
	}
}

// newcArchive is a cpio (newc) archive with one file.
func newcArchive(name, data string) []byte {
	var b bytes.Buffer
	entry := func(ino int, name string, mode int, data string) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.WriteString(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry(1, filepath.Dir(name), 0o40755, "")
	entry(2, name, 0o100644, data)
	entry(0, "TRAILER!!!", 0, "")
	return b.Bytes()
}

// tail is the end of a console log, for failure messages.
func tail(out []byte) string {
	if len(out) > 3000 {
		out = out[len(out)-3000:]
	}
	return string(out)
}
