package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// mountKernelFS mounts what an init needs before anything else: proc, sys and a
// devtmpfs on /dev (where the kernel creates the NIC-less world's disk nodes).
func mountKernelFS() error {
	mounts := []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", m.dst, err)
		}
		err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, "")
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	return nil
}

// finish syncs and reboots or powers off. As PID 1 the agent must never return.
func finish(how string) {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if how == "reboot" {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	_ = unix.Reboot(cmd)
	select {}
}

// waitEntropy waits until the kernel's CRNG is ready. Everything the agent does next
// (the DHCP transaction ID, TLS) reads crypto/rand, which blocks silently until then; a
// machine without a hardware RNG (RDRAND, virtio-rng) can take minutes, so say so.
func waitEntropy(ctx context.Context, log *slog.Logger) {
	probe := func() bool {
		var b [1]byte
		_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
		return err == nil
	}
	if probe() {
		return
	}
	log.Warn("waiting for the kernel's random number generator; give the machine a hardware RNG (RDRAND, or virtio-rng for VMs) to skip this")
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !probe() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	log.Info("random number generator ready", "waited", time.Since(start).Round(time.Millisecond))
}
