package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WipeSize is how much of the disk start is zeroed after a refused image: the
// partition table, boot code and the first partition's start.
const WipeSize = 1 << 20

// chooseDisk returns the target disk name: the one asked for (it must exist), or the
// first whole disk that is not removable, a RAM disk, loop or optical drive.
func chooseDisk(ctx context.Context, want string) (string, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ents, _ := os.ReadDir("/sys/block")
		var names []string
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "sr") || strings.HasPrefix(n, "zram") {
				continue
			}
			if b, err := os.ReadFile(filepath.Join("/sys/block", n, "size")); err != nil || strings.TrimSpace(string(b)) == "0" {
				continue
			}
			names = append(names, n)
		}
		slices.Sort(names)
		if want != "" && slices.Contains(names, want) {
			return want, nil
		}
		if want == "" && len(names) > 0 {
			return names[0], nil
		}
		select {
		case <-ctx.Done():
			if want != "" {
				return "", fmt.Errorf("target disk %s not found (disks: %v)", want, names)
			}
			return "", errors.New("no disk found")
		case <-tick.C:
		}
	}
}

// wipe zeroes the first WipeSize bytes of the disk and syncs, so nothing half-written
// or refused can boot.
func wipe(dev string) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s to wipe: %w", dev, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, WipeSize), 0); err != nil {
		return fmt.Errorf("wipe %s: %w", dev, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dev, err)
	}
	return nil
}

// rereadPartitions asks the kernel to re-read the partition table (BLKRRPART) and
// waits for the partition devices to appear.
func rereadPartitions(ctx context.Context, disk string) ([]string, error) {
	f, err := os.Open("/dev/" + disk)
	if err != nil {
		return nil, fmt.Errorf("open /dev/%s: %w", disk, err)
	}
	err = unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("re-read partition table of %s: %w", disk, err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m, _ := filepath.Glob(filepath.Join("/sys/block", disk, disk+"*"))
		var parts []string
		for _, p := range m {
			name := filepath.Base(p)
			if _, err := os.Stat("/dev/" + name); err == nil {
				parts = append(parts, name)
			}
		}
		if len(parts) > 0 {
			slices.Sort(parts)
			return parts, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no partitions on %s after re-reading its table: is stage2 a disk image with a partition table?", disk)
		case <-tick.C:
		}
	}
}

// isExt4 reports whether a partition holds an ext2/3/4 superblock (magic 0xEF53).
func isExt4(dev string) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1024+0x38); err != nil {
		return false
	}
	return binary.LittleEndian.Uint16(b) == 0xEF53
}

// mountRoot mounts the first ext4 partition of the disk read-write on dir.
func mountRoot(parts []string, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, p := range parts {
		dev := "/dev/" + p
		if !isExt4(dev) {
			continue
		}
		if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
			return "", fmt.Errorf("mount %s on %s: %w", dev, dir, err)
		}
		return dev, nil
	}
	return "", fmt.Errorf("no ext4 root file system among partitions %v", parts)
}

func unmount(dir string) error {
	unix.Sync()
	if err := unix.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}

// settleDisks waits until the set of disks has not changed for quiet (or ctx ends):
// an HBA scans its ports asynchronously, and the inventory and the root device hints
// must see every disk, not only the first to appear.
func settleDisks(ctx context.Context, quiet time.Duration) {
	list := func() string {
		ents, _ := os.ReadDir("/sys/block")
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return strings.Join(n, " ")
	}
	last, since := list(), time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(since) < quiet {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if cur := list(); cur != last {
				last, since = cur, time.Now()
			}
		}
	}
}
