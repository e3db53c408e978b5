package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// GuestTap makes a tap named "tap"+name on tor's rack bridge for a QEMU guest's NIC
// (netdev tap,ifname=...) and deletes it at cleanup.
func GuestTap(t testing.TB, tor *ToR, name string) string {
	t.Helper()
	tap := "tap" + name
	tor.Run("ip", "tuntap", "add", tap, "mode", "tap")
	tor.Run("ip", "link", "set", tap, "master", "rack", "up")
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", tor.Name, "ip", "link", "del", tap).Run() })
	return tap
}

// StartGuest starts a QEMU guest (TCG, 512 MiB, serial console on its output, no
// reboot) whose virtio NIC with mac is a tap on tor's rack bridge, booting from the
// NIC (QEMU's iPXE ROM) with disk as its virtio disk. It is stopped at cleanup.
func StartGuest(t testing.TB, tor *ToR, name, mac, disk string) *Proc {
	t.Helper()
	return StartGuestWith(t, tor, name, fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac),
		"-drive", fmt.Sprintf("file=%s,format=raw,if=virtio", disk))
}

// StartGuestWith is StartGuest with the NIC given as the QEMU device nic (on netdev n0,
// the tap) and the storage as extra QEMU arguments: other NIC models and disk buses.
func StartGuestWith(t testing.TB, tor *ToR, name, nic string, storage ...string) *Proc {
	t.Helper()
	tap := GuestTap(t, tor, name)
	args := []string{"qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", nic,
		// Entropy for the guest's CRNG (TLS), as a hypervisor would provide.
		"-device", "virtio-rng-pci"}
	return tor.Start(nil, append(args, storage...)...)
}

// NewDisk makes an empty (sparse) raw disk of sizeMiB for a guest.
func NewDisk(t testing.TB, path string, sizeMiB int) string {
	t.Helper()
	return newDisk(t, path, sizeMiB, nil)
}

// NewMarkedDisk is NewDisk with its first MiB 0xAA, so that a wipe is visible.
func NewMarkedDisk(t testing.TB, path string, sizeMiB int) string {
	t.Helper()
	return newDisk(t, path, sizeMiB, bytes.Repeat([]byte{0xAA}, 1<<20))
}

func newDisk(t testing.TB, path string, sizeMiB int, head []byte) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	return path
}
