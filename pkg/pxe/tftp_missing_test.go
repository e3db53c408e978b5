package pxe

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestTFTPMissingBootloaderIsAHostEvent: a host asks for the bootloader its profile
// names but nobody added it: TFTP answers "file not found" and the host's history says
// which file is missing, so `host watch` shows why the host stopped.
func TestTFTPMissingBootloaderIsAHostEvent(t *testing.T) {
	need(t, "curl")
	f := newFixture(t, nil)
	ctx := context.Background()
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	prof := podmgr.Profile{Name: "prof-a", Bootloaders: podmgr.Bootloaders{BIOS: "ghost.kpxe"}, Kernel: "vmlinuz@1", Initrd: "initrd.img", Stage2: "os@1"}
	if _, _, err := f.mgr.ApplyProfile(ctx, admin, prof, false); err != nil {
		t.Fatal(err)
	}
	url := "tftp://127.0.0.1:" + tftpPort(f) + "/" + tftpPath("pod-a", macA, "ghost.kpxe")
	if out, err := exec.Command("curl", "-sS", "--max-time", "10", "-o", "/dev/null", url).CombinedOutput(); err == nil {
		t.Fatalf("TFTP served a bootloader that is not in the store: %s", out)
	}
	evs, err := f.mgr.HostEvents(ctx, macA)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Action == "tftp.refused" {
			got = append(got, e.Detail)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], "ghost.kpxe") || !strings.Contains(got[0], "image add") {
		t.Fatalf("tftp.refused events %q, want one naming ghost.kpxe and how to add it", got)
	}
	// A file the pod does not reference is refused without a host event (not the host's
	// bootloader: nothing to fix in the store).
	url = "tftp://127.0.0.1:" + tftpPort(f) + "/" + tftpPath("pod-a", macA, "orphan.bin")
	_ = exec.Command("curl", "-sS", "--max-time", "10", "-o", "/dev/null", url).Run()
	if evs, _ = f.mgr.HostEvents(ctx, macA); strings.Contains(evs[len(evs)-1].Detail, "orphan.bin") {
		t.Fatalf("an unreferenced file was recorded: %+v", evs[len(evs)-1])
	}
}
