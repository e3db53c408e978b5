package testutil

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// StartGuestWithoutNetwork starts a powered-on QEMU guest (q35, SeaBIOS) with an empty
// CD drive whose qdev id is cdrom0, no network and nothing to boot, its console in the
// file serial and its QMP socket at sock (for RedfishBMC.DriveQEMU); -no-shutdown keeps
// QEMU and QMP when it is powered off. It is killed when the test ends.
func StartGuestWithoutNetwork(t testing.TB, sock, serial string) {
	t.Helper()
	q := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "512", "-nographic", "-monitor", "none",
		"-no-shutdown", "-net", "none", "-chardev", "file,id=ser0,path="+serial, "-serial", "chardev:ser0",
		"-qmp", "unix:"+sock+",server=on,wait=off",
		"-drive", "if=none,id=cd0,media=cdrom", "-device", "ide-cd,drive=cd0,bus=ide.2,id=cdrom0")
	if err := q.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	t.Cleanup(func() { q.Process.Kill(); q.Wait() })
	WaitFor(t, 30*time.Second, "the QMP socket", func() bool { _, err := os.Stat(sock); return err == nil })
}
