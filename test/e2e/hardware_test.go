package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// hwSet is a QEMU device set standing in for a real server's NIC and storage
// controller: the stage1 built from Debian's generic kernel must find their drivers by
// modalias.
type hwSet struct {
	name    string // short: it names the tap device
	nic     string // QEMU NIC model
	storage func(disk string) []string
	// modules that must be loaded (the agent.booted event lists them).
	modules []string
	// noDisk: the storage controller has no packed driver; the host must fail with a
	// diagnosis naming it.
	noDisk string
	// inventory: the guest has a DMI serial and two disks with serials, the smaller one
	// first; the profile's root device hint (>= 50 MB) must choose the larger one and
	// leave the smaller untouched, and the inventory must show what QEMU was given.
	inventory bool
}

func scsiDisk(controller string) func(string) []string {
	return func(disk string) []string {
		return []string{"-device", controller + ",id=hba0", "-drive", "file=" + disk + ",format=raw,if=none,id=d0", "-device", "scsi-hd,drive=d0,bus=hba0.0"}
	}
}

var hwSets = []hwSet{
	{name: "hwa", nic: "e1000e", modules: []string{"e1000e", "ahci", "sd_mod"}, inventory: true, storage: func(disk string) []string {
		return []string{"-smbios", "type=1,manufacturer=PodbootLab,product=HW-A,serial=PB-HWA-0001",
			"-device", "ich9-ahci,id=sata1",
			"-drive", "file=" + smallDisk(disk) + ",format=raw,if=none,id=d1", "-device", "ide-hd,drive=d1,bus=sata1.0,serial=PBDISK-SMALL",
			"-drive", "file=" + disk + ",format=raw,if=none,id=d0", "-device", "ide-hd,drive=d0,bus=sata1.1,serial=PBDISK-BIG"}
	}},
	{name: "hwn", nic: "virtio-net-pci", modules: []string{"virtio_net"}, storage: scsiDisk("lsi53c895a"), noDisk: "1000:0012"},
	{name: "hwb", nic: "e1000", modules: []string{"e1000", "nvme"}, storage: func(disk string) []string {
		return []string{"-drive", "file=" + disk + ",format=raw,if=none,id=d0", "-device", "nvme,serial=pbnvme0,drive=d0"}
	}},
	{name: "hwc", nic: "vmxnet3", modules: []string{"vmxnet3", "megaraid_sas", "sd_mod"}, storage: scsiDisk("megasas")},
	{name: "hwd", nic: "virtio-net-pci", modules: []string{"virtio_net", "virtio_scsi", "sd_mod"}, storage: scsiDisk("virtio-scsi-pci")},
	{name: "hwe", nic: "igb", modules: []string{"igb"}, storage: func(disk string) []string {
		return []string{"-drive", "file=" + disk + ",format=raw,if=virtio"}
	}},
}

// smallDisk is the path of a set's second, smaller disk (32 MiB, first MiB 0xAA).
func smallDisk(disk string) string { return strings.TrimSuffix(disk, "-disk.img") + "-small.img" }

// qemuHasDevice reports whether this QEMU emulates a device model (igb needs 8.0).
func qemuHasDevice(name string) bool {
	out, _ := exec.Command("qemu-system-x86_64", "-device", "help").CombinedOutput()
	return strings.Contains(string(out), `name "`+name+`"`)
}

// TestProvisionHardware provisions guests with the NICs and storage controllers of real
// servers (issue 14) through the relay, with a stage1 from Debian's generic kernel:
// the agent loads their drivers by modalias. A guest whose storage controller has no
// packed driver fails with a diagnosis naming the controller, on the console and as the
// host's failure. Every set runs (igb only where this QEMU has the device). At most two
// guests run at once (t.Parallel under GOMAXPROCS=2 on CI).
func TestProvisionHardware(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get")
	env := newPodEnv(t, nil)
	img := stage2Image(t, env.work, "hw", "hardware image")
	env.push("os:1", img, "stage2")
	// podboot.lldp: the install waits (up to 20 s) for the ToR's LLDP before its inventory.
	env.applyProfile("hw", strings.Replace(profileYAML("e2e", "os@1", "rootDevice:\n  minSizeMB: 50\n"), "panic=-1", "panic=-1 podboot.lldp=20", 1))
	// discover: the unknown MAC of the discovery subtest is recorded, not ignored.
	env.applyPod(podYAML + "unknownHosts: discover\n")
	var sets []hwSet
	for i, s := range hwSets {
		if !qemuHasDevice(s.nic) {
			t.Logf("this QEMU has no %s device: set %s skipped", s.nic, s.name)
			continue
		}
		mac := fmt.Sprintf("52:54:00:e2:e1:%02x", i+1)
		env.admin.must("host", "add", mac, "--pod", "pod-a", "--hostname", "hw-"+s.name, "--mgmt-ip", fmt.Sprintf("203.0.113.%d", 40+i))
		sets = append(sets, s)
	}
	env.tor.StartRelay("198.51.100.10")
	// The ToR's LLDP names each guest's port Ethernet1/N, as a switch would.
	lldpd := env.tor.StartLLDP("tor-a")
	t.Run("discovered host is inspected, installed only after accept", func(t *testing.T) {
		t.Parallel()
		testDiscovery(t, env, lldpd)
	})
	for i, s := range hwSets {
		if !contains(sets, s.name) {
			continue
		}
		mac := fmt.Sprintf("52:54:00:e2:e1:%02x", i+1)
		t.Run(s.name+"-"+s.nic, func(t *testing.T) {
			t.Parallel()
			disk := newDisk(t, env.work, s.name)
			if s.inventory {
				testutil.Run(t, env.work, "cp", disk, smallDisk(disk))
				testutil.Run(t, env.work, "truncate", "-s", "32M", smallDisk(disk))
			}
			begin := time.Now()
			v := startVMWith(t, env.tor, s.name, disk, fmt.Sprintf("%s,netdev=n0,mac=%s,bootindex=1", s.nic, mac), s.storage(disk)...)
			lldpd.Port("tap"+s.name, fmt.Sprintf("Ethernet1/%d", i+1), "rack1 "+s.name)
			v.waitExit(t, 4*time.Minute, "the guest to power off")
			t.Logf("%s run took %s", s.name, time.Since(begin).Round(time.Millisecond))
			con := v.proc.Output()
			h := env.admin.host(mac)
			evs := env.admin.events(mac)
			var booted string
			for _, e := range evs {
				if e.Action == "agent.booted" {
					booted = e.Detail
				}
			}
			for _, m := range s.modules {
				if !strings.Contains(booted, m) {
					t.Errorf("module %s not among the loaded ones: %q", m, booted)
				}
			}
			if s.noDisk != "" {
				if h.State != podmgr.StateFailed || !strings.Contains(h.StateReason, s.noDisk) || !strings.Contains(h.StateReason, "no driver packed") {
					t.Fatalf("host: state %s reason %q; want failed naming %s with no driver packed\n%s", h.State, h.StateReason, s.noDisk, con)
				}
				if !strings.Contains(con, "=== podboot stage1: no install disk ===") || !strings.Contains(con, s.noDisk+" (class 0x010000): no driver packed") {
					t.Fatalf("console has no diagnosis for %s:\n%s", s.noDisk, con)
				}
				return
			}
			if h.State != podmgr.StateProvisioned {
				t.Fatalf("host: state %s reason %q\n%s", h.State, h.StateReason, con)
			}
			if got := debugfsCat(t, t.TempDir(), disk, "/etc/motd"); got != "hardware image\n" {
				t.Errorf("motd on the installed disk = %q", got)
			}
			if s.inventory {
				checkInventory(t, env, mac, disk, fmt.Sprintf("Ethernet1/%d", i+1))
			}
		})
	}
}

func contains(sets []hwSet, name string) bool {
	for _, s := range sets {
		if s.name == name {
			return true
		}
	}
	return false
}

// checkInventory: the inventory shows what the QEMU command line gave the guest and the
// switch port lldpd announced on its tap, the agent.inventory event came before the
// disk was written, and the smaller disk the hint excluded is untouched.
func checkInventory(t *testing.T, env *podEnv, mac, disk, port string) {
	t.Helper()
	var rec podmgr.Inventory
	if err := json.Unmarshal([]byte(env.admin.must("host", "inventory", mac, "-o", "json")), &rec); err != nil {
		t.Fatal(err)
	}
	var inv agentproto.Inventory
	if err := json.Unmarshal(rec.Data, &inv); err != nil {
		t.Fatal(err)
	}
	if inv.System.Serial != "PB-HWA-0001" || inv.System.Vendor != "PodbootLab" || inv.System.Product != "HW-A" || inv.CPU.Count < 1 || inv.MemoryBytes < 256<<20 {
		t.Errorf("inventory system %+v cpu %+v memory %d", inv.System, inv.CPU, inv.MemoryBytes)
	}
	sizes := map[string]uint64{}
	for _, d := range inv.Disks {
		sizes[d.Serial] = d.SizeBytes
		if d.Bus != "ata" || d.Removable {
			t.Errorf("disk %+v: want bus ata, not removable", d)
		}
	}
	if sizes["PBDISK-BIG"] != 64<<20 || sizes["PBDISK-SMALL"] != 32<<20 {
		t.Errorf("inventory disks %+v, want PBDISK-BIG 64 MiB and PBDISK-SMALL 32 MiB", inv.Disks)
	}
	if len(inv.NICs) != 1 || inv.NICs[0].MAC != mac || inv.NICs[0].Driver != "e1000e" || inv.NICs[0].PCI != "8086:10d3" || !inv.NICs[0].Link {
		t.Errorf("inventory NICs %+v", inv.NICs)
	}
	if len(inv.NICs) == 1 {
		if l := inv.NICs[0].LLDP; l == nil || l.PortID != port || l.SystemName != "tor-a" || l.PortDescription == "" || l.ChassisID == "" {
			t.Errorf("LLDP neighbour %+v, want port %s of tor-a", l, port)
		}
	}
	if out := env.admin.must("host", "inventory", mac); !strings.Contains(out, `port="`+port+`"`) {
		t.Errorf("host inventory does not show the LLDP port %s:\n%s", port, out)
	}
	if !testutil.InOrder(actions(env.admin.events(mac)), []string{"agent.inventory", "agent.chainload", "agent.verified"}) {
		t.Errorf("events %v: want agent.inventory before the disk is written", actions(env.admin.events(mac)))
	}
	b, _ := os.ReadFile(smallDisk(disk))
	if !bytes.Equal(b[:1<<20], bytes.Repeat([]byte{0xAA}, 1<<20)) {
		t.Error("the smaller disk, which the root device hint excludes, was written")
	}
}

// testDiscovery: an unknown MAC in a discover pod boots stage1 in inspection mode: it
// becomes discovered with its inventory and no disk is written; after host accept the
// same machine is installed.
func testDiscovery(t *testing.T, env *podEnv, lldpd *testutil.LLDPD) {
	const mac = "52:54:00:e2:e1:d1"
	disk := newDisk(t, env.work, "disc")
	nic := fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac)
	storage := []string{"-smbios", "type=1,serial=PB-DISC-0001", "-drive", "file=" + disk + ",format=raw,if=virtio"}
	v := startVMWith(t, env.tor, "hwdisc", disk, nic, storage...)
	lldpd.Port("taphwdisc", "Ethernet1/30", "rack1 discovery")
	v.waitExit(t, 4*time.Minute, "the discovered guest to power off after inspection")
	h := env.admin.host(mac)
	if h.State != podmgr.StateDiscovered || !h.Discovered {
		t.Fatalf("after inspection: state %s discovered %v reason %q\n%s", h.State, h.Discovered, h.StateReason, v.proc.Output())
	}
	acts := actions(env.admin.events(mac))
	if !testutil.InOrder(acts, []string{"discovered", "agent.booted", "agent.inventory"}) || testutil.InOrder(acts, []string{"agent.chainload"}) || testutil.InOrder(acts, []string{"kickstart.served"}) {
		t.Fatalf("events of the discovered host: %v", acts)
	}
	if out := env.admin.must("host", "inventory", mac); !strings.Contains(out, "PB-DISC-0001") || !strings.Contains(out, `port="Ethernet1/30"`) {
		t.Fatalf("inventory of the discovered host:\n%s", out)
	}
	b, _ := os.ReadFile(disk)
	if !bytes.Equal(b[:1<<20], bytes.Repeat([]byte{0xAA}, 1<<20)) {
		t.Fatal("the discovered host's disk was written")
	}
	env.admin.must("host", "accept", mac, "--hostname", "hw-disc", "--ip", "203.0.113.60")
	v = startVMWith(t, env.tor, "hwdisc2", disk, nic, storage...)
	v.waitExit(t, 4*time.Minute, "the accepted guest to install and power off")
	if h := env.admin.host(mac); h.State != podmgr.StateProvisioned || h.Hostname != "hw-disc" {
		t.Fatalf("after accept: state %s reason %q\n%s", h.State, h.StateReason, v.proc.Output())
	}
	if got := debugfsCat(t, t.TempDir(), disk, "/etc/hostname"); got != "hw-disc\n" {
		t.Errorf("hostname on the installed disk = %q", got)
	}
}
