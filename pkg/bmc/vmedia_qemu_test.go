package bmc

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/stage1iso"
	"github.com/podboot/podboot/pkg/vmedia"
)

// TestRedfishVirtualMediaBootsQEMU: a per-host stage1 ISO, published at its secret URL,
// inserted through Redfish into a real QEMU guest (the fixture maps the actions onto
// QMP), boot once from CD, power cycle: the guest boots the ISO's kernel with the ISO's
// command line; eject then empties the drive.
func TestRedfishVirtualMediaBootsQEMU(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrd, []byte("no init here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := vmedia.New(filepath.Join(dir, "vmedia"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const host = "52:54:00:00:15:09"
	path, err := imgs.Publish(host, stage1iso.Spec{Kernel: testutil.DebianCloudVmlinuz(t), Initrd: initrd,
		Cmdline: "console=ttyS0 panic=-1 podboot.test=vmedia-qemu-3", Loaders: stage1iso.DebianLoaders()}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(imgs)
	t.Cleanup(srv.Close)

	// A powered-on guest with an empty CD drive and nothing to boot (-no-shutdown: off
	// keeps QEMU and its QMP socket).
	sock, serial := filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "serial.log")
	q := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "512", "-nographic", "-monitor", "none",
		"-no-shutdown", "-net", "none", "-chardev", "file,id=ser0,path="+serial, "-serial", "chardev:ser0",
		"-qmp", "unix:"+sock+",server=on,wait=off",
		"-drive", "if=none,id=cd0,media=cdrom", "-device", "ide-cd,drive=cd0,bus=ide.2,id=cdrom0")
	if err := q.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	t.Cleanup(func() { q.Process.Kill(); q.Wait() })
	testutil.WaitFor(t, 30*time.Second, "the QMP socket", func() bool { _, err := os.Stat(sock); return err == nil })

	fx := testutil.StartRedfishBMC(t, "admin", "pw")
	fx.DriveQEMU(sock, "cdrom0", dir)
	rf, err := newRedfish(Endpoint{Address: fx.Host, Port: fx.Port, User: "admin", Password: "pw", CACert: fx.CACert, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer rf.close(ctx)
	if err := rf.InsertMedia(ctx, srv.URL+path); err != nil {
		t.Fatal(err)
	}
	if err := rf.SetBootDevice(ctx, BootCD, true, false); err != nil {
		t.Fatal(err)
	}
	if err := rf.Power(ctx, PowerCycle); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 4*time.Minute, "the guest to boot the ISO's kernel", func() bool {
		b, _ := os.ReadFile(serial)
		return bytes.Contains(b, []byte("podboot.test=vmedia-qemu-3"))
	})
	if err := rf.EjectMedia(ctx); err != nil {
		t.Fatal(err)
	}
	// The mockup's CD1 starts with a medium in it: the driver ejects it first.
	want := []string{"EjectMedia CD1", "InsertMedia CD1 " + srv.URL + path, "Boot Cd Once Legacy", "Reset ForceOff", "Reset On", "EjectMedia CD1"}
	if got := fx.Actions(); !slices.Equal(got, want) {
		t.Fatalf("BMC saw %v, want %v", got, want)
	}
}
