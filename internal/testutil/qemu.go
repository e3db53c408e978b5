package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// StartGuest starts a QEMU guest (TCG, 512 MiB, serial console on its output, no
// reboot) whose virtio NIC with mac is a tap on tor's rack bridge, booting from the
// NIC (QEMU's iPXE ROM) with disk as its virtio disk. It is stopped at cleanup.
func StartGuest(t testing.TB, tor *ToR, name, mac, disk string) *Proc {
	t.Helper()
	tap := "tap" + name
	tor.Run("ip", "tuntap", "add", tap, "mode", "tap")
	tor.Run("ip", "link", "set", tap, "master", "rack", "up")
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", tor.Name, "ip", "link", "del", tap).Run() })
	return tor.Start(nil, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac),
		// Entropy for the guest's CRNG (TLS), as a hypervisor would provide.
		"-device", "virtio-rng-pci",
		"-drive", fmt.Sprintf("file=%s,format=raw,if=virtio", disk))
}

// NewDisk makes an empty (sparse) raw disk of sizeMiB for a guest.
func NewDisk(t testing.TB, path string, sizeMiB int) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	return path
}
