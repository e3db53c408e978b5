package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
)

// collectInventory reads what the machine is from sysfs and procfs under root ("/"
// on the machine; a directory tree in tests): DMI, CPUs, memory, whole disks and
// Ethernet NICs. It reads only; nothing is written to any disk.
func collectInventory(root string) agentproto.Inventory {
	p := func(parts ...string) string { return filepath.Join(append([]string{root}, parts...)...) }
	var inv agentproto.Inventory
	dmi := p("sys", "class", "dmi", "id")
	inv.System = agentproto.System{Vendor: readTrim(filepath.Join(dmi, "sys_vendor")), Product: readTrim(filepath.Join(dmi, "product_name")),
		Serial: readTrim(filepath.Join(dmi, "product_serial")), UUID: readTrim(filepath.Join(dmi, "product_uuid"))}
	inv.CPU = cpuInfo(p("proc", "cpuinfo"))
	inv.MemoryBytes = memTotal(p("proc", "meminfo"))
	inv.Disks = disks(p("sys", "block"))
	inv.NICs = nics(p("sys", "class", "net"))
	return inv
}

func cpuInfo(path string) agentproto.CPU {
	var c agentproto.CPU
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "processor":
			c.Count++
		case "model name":
			if c.Model == "" {
				c.Model = strings.TrimSpace(v)
			}
		}
	}
	return c
}

func memTotal(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// disks lists whole disks (no loop, RAM, optical or zram devices) from /sys/block.
func disks(block string) []agentproto.Disk {
	ents, _ := os.ReadDir(block)
	var out []agentproto.Disk
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "sr") || strings.HasPrefix(n, "zram") {
			continue
		}
		dir := filepath.Join(block, n)
		sectors, _ := strconv.ParseUint(readTrim(filepath.Join(dir, "size")), 10, 64)
		if sectors == 0 {
			continue
		}
		d := agentproto.Disk{Name: n, SizeBytes: sectors * 512,
			Model:      firstOf(filepath.Join(dir, "device", "model")),
			Serial:     serialOf(dir),
			WWN:        firstOf(filepath.Join(dir, "wwid"), filepath.Join(dir, "device", "wwid")),
			Rotational: readTrim(filepath.Join(dir, "queue", "rotational")) == "1",
			Removable:  readTrim(filepath.Join(dir, "removable")) == "1",
			Bus:        diskBus(dir, n),
		}
		out = append(out, d)
	}
	return out
}

// serialOf is the disk's serial number: sysfs has a serial file for NVMe and virtio;
// SCSI and ATA disks have it in the unit serial number VPD page (0x80: a 4-byte
// header, then the ASCII serial).
func serialOf(dir string) string {
	if s := firstOf(filepath.Join(dir, "device", "serial"), filepath.Join(dir, "serial")); s != "" {
		return s
	}
	b, err := os.ReadFile(filepath.Join(dir, "device", "vpd_pg80"))
	if err != nil || len(b) < 4 {
		return ""
	}
	return strings.TrimSpace(strings.Trim(string(b[4:]), "\x00"))
}

func firstOf(paths ...string) string {
	for _, p := range paths {
		if v := readTrim(p); v != "" {
			return v
		}
	}
	return ""
}

// diskBus tells how a disk is attached, from the device path sysfs links it to.
func diskBus(dir, name string) string {
	real, _ := filepath.EvalSymlinks(dir)
	switch {
	case strings.HasPrefix(name, "nvme"):
		return "nvme"
	case strings.HasPrefix(name, "vd"):
		return "virtio"
	case strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case strings.Contains(real, "/usb"):
		return "usb"
	case strings.Contains(real, "/ata"):
		return "ata"
	case strings.HasPrefix(name, "sd"):
		return "scsi"
	}
	return ""
}

// nics lists the Ethernet interfaces that have a device (not lo, bridges, tunnels).
func nics(class string) []agentproto.NIC {
	ents, _ := os.ReadDir(class)
	var out []agentproto.NIC
	for _, e := range ents {
		dir := filepath.Join(class, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil || readTrim(filepath.Join(dir, "type")) != "1" {
			continue
		}
		n := agentproto.NIC{Name: e.Name(), MAC: readTrim(filepath.Join(dir, "address")), Link: readTrim(filepath.Join(dir, "carrier")) == "1"}
		if l, err := os.Readlink(filepath.Join(dir, "device", "driver")); err == nil {
			n.Driver = filepath.Base(l)
		}
		v, d := readTrim(filepath.Join(dir, "device", "vendor")), readTrim(filepath.Join(dir, "device", "device"))
		if v != "" && d != "" {
			n.PCI = strings.TrimPrefix(v, "0x") + ":" + strings.TrimPrefix(d, "0x")
		}
		if s, err := strconv.Atoi(readTrim(filepath.Join(dir, "speed"))); err == nil && s > 0 {
			n.SpeedMbps = s
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b agentproto.NIC) int { return strings.Compare(a.Name, b.Name) })
	return out
}
