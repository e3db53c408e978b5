package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The IPMI guest's BMC: ipmi_sim on the rack network (an address of the ToR's rack
// bridge, outside the pod's DHCP range), and the LAN configuration it reports to the
// guest's OS.
const (
	ipmiBMCAddr = "192.0.2.200"
	ipmiBMCPass = "ipmi-Secret-15"
	ipmiBMCMAC  = "52:54:00:b3:c0:15"
)

// ipmiGuest is a QEMU guest on the rack whose BMC is ipmi_sim (config B), set as the
// host's BMC: the disk is a virtio disk; the IPMI boot device "pxe" boots the NIC (QEMU's iPXE ROM), any other
// boots the disk, with no NIC ROM (a server set to boot its disk does not PXE).
func ipmiGuest(t *testing.T, e *podEnv, name, mac, disk string) *testutil.IPMISim {
	t.Helper()
	tap := "tap" + name
	e.tor.Run("ip", "tuntap", "add", tap, "mode", "tap")
	e.tor.Run("ip", "link", "set", tap, "master", "rack", "up")
	t.Cleanup(func() { e.tor.Run("ip", "link", "del", tap) })
	e.tor.Run("ip", "addr", "add", ipmiBMCAddr+"/24", "dev", "rack")
	nic := fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s", mac)
	sim := testutil.StartIPMISimVM(t, e.tor.NS, ipmiBMCAddr, testutil.IPMIVMConfig{
		Password: ipmiBMCPass,
		LAN:      testutil.IPMILAN{Address: ipmiBMCAddr, Netmask: "255.255.255.0", Gateway: "192.0.2.1", MAC: ipmiBMCMAC},
		Args: []string{"-accel", "tcg", "-m", "512",
			"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
			// Entropy for the guest's CRNG (TLS), as a hypervisor would provide.
			"-device", "virtio-rng-pci",
			"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=d0", disk)},
		Boot: map[string][]string{
			"pxe":     {"-device", nic + ",bootindex=1", "-device", "virtio-blk-pci,drive=d0"},
			"default": {"-device", nic + ",romfile=", "-device", "virtio-blk-pci,drive=d0,bootindex=1"},
		},
	})
	pw := filepath.Join(e.work, name+"-bmc.pw")
	if err := os.WriteFile(pw, []byte(ipmiBMCPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.admin.must("host", "bmc", "set", mac, "--driver", "ipmi", "--address", ipmiBMCAddr, "--user", "admin", "--password-file", pw)
	return sim
}

// installedOSMarker is what installDiskOS's boot sector prints on the console.
const installedOSMarker = "[installed OS running]"

// installDiskOS puts a stand-in for an installed OS's boot loader into the MBR of a
// (powered-off) guest's disk (boot code and the 0x55AA signature; the partition table
// stays): it prints installedOSMarker on COM1 and halts (hlt in a loop keeps the TCG
// guest idle), so a disk boot is visible and the guest stays powered on.
func installDiskOS(t *testing.T, disk string) {
	t.Helper()
	code := []byte{0xBA, 0xF8, 0x03} // mov dx, 0x3f8
	for _, c := range []byte(installedOSMarker + "\r\n") {
		code = append(code, 0xB0, c, 0xEE) // mov al, c; out dx, al
	}
	code = append(code, 0xF4, 0xEB, 0xFD) // hlt; jmp back to hlt
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(code, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x55, 0xAA}, 510); err != nil {
		t.Fatal(err)
	}
}

// ipmitool runs ipmitool against the guest's BMC from central (where serve runs), as
// an operator's tool would, and returns its output.
func ipmitool(t *testing.T, e *podEnv, args ...string) string {
	t.Helper()
	return e.central.Run(append([]string{"ipmitool", "-I", "lanplus", "-C", "3", "-H", ipmiBMCAddr, "-U", "admin", "-P", ipmiBMCPass}, args...)...)
}

// TestIPMIPowerCycleReprovision is issue 15's IPMI acceptance test and issue 14's BMC
// address from a real guest. ipmi_sim is the BMC of a QEMU guest on the rack (config B:
// its chassis_control starts and stops QEMU with the boot device's arguments) and the
// guest's OS sees it through QEMU's ipmi-bmc-extern + isa-ipmi-kcs. Through the real
// binary and CLI, the relayed DHCP and the generic-kernel stage1: the host (off) is
// provisioned by `host reprovision --power-cycle` (PXE once, power on), its inventory
// has the BMC LAN address ipmi_sim reports; then, booted from its disk, it is
// reprovisioned again: the running guest really powers off, starts on PXE, and is
// provisioned end to end. ipmitool reads the boot device and power state podboot set.
func TestIPMIPowerCycleReprovision(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get", "ipmi_sim", "ipmitool")
	const mac = "52:54:00:e2:e0:1f"
	begin := time.Now()
	e := newPodEnv(t, nil)
	e.push("os:1", stage2Image(t, e.work, "good", "good image"), "stage2")
	e.applyProfile("e2e", profileYAML("e2e", "os@1", ""))
	e.applyPod(podYAML)
	e.admin.must("host", "add", mac, "--pod", "pod-a", "--hostname", "node-ipmi", "--mgmt-ip", "203.0.113.31")
	disk := newDisk(t, e.work, "ipmi")
	sim := ipmiGuest(t, e, "ipmi", mac, disk)
	e.tor.StartRelay("198.51.100.10")
	e.tor.StartRouterAdvertisements()
	t.Logf("setup took %s", time.Since(begin).Round(time.Millisecond))

	// 1. The host is off: reprovision sets PXE once and powers it on.
	if out := e.admin.must("host", "power", "status", mac); !strings.Contains(out, "off") {
		t.Fatalf("power status before the first boot: %q", out)
	}
	// provisioned waits for the install, then powers the host off through its BMC (the
	// agent reboots, and ipmi_sim keeps the boot device PXE: the guest would netboot
	// again where a server would boot its disk).
	provisioned := func(what string) {
		t.Helper()
		start := time.Now()
		testutil.WaitFor(t, 5*time.Minute, what, func() bool { return e.admin.host(mac).State == podmgr.StateProvisioned })
		t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
		e.admin.must("host", "power", "off", mac)
		testutil.WaitFor(t, 30*time.Second, "the guest to power off", func() bool { return sim.QEMUPID() == 0 })
	}
	e.admin.must("host", "reprovision", mac, "--power-cycle")
	provisioned("first install (power on)")
	checkBMCInventory(t, e, mac)
	if got := debugfsCat(t, t.TempDir(), disk, "/etc/motd"); got != "good image\n" {
		t.Fatalf("motd after the first install = %q\n%s", got, sim.Console())
	}
	if out := e.admin.must("host", "power", "status", mac); !strings.Contains(out, "off") {
		t.Fatalf("power status after host power off: %q", out)
	}

	// 2. The installed host runs from its disk.
	installDiskOS(t, disk)
	e.admin.must("host", "boot-device", mac, "disk")
	e.admin.must("host", "power", "on", mac)
	testutil.WaitFor(t, time.Minute, "the guest to boot its disk", func() bool {
		return strings.Contains(sim.Console(), installedOSMarker)
	})
	running := sim.QEMUPID()
	if running == 0 || !strings.Contains(ipmitool(t, e, "chassis", "power", "status"), "Chassis Power is on") {
		t.Fatalf("guest not running after power on (pid %d)", running)
	}

	// 3. Reprovision the running host: PXE once, then a real power cycle.
	logBefore := len(sim.Log())
	evBefore := len(e.admin.events(mac))
	e.admin.must("host", "reprovision", mac, "--power-cycle")
	if out := ipmitool(t, e, "chassis", "bootparam", "get", "5"); !strings.Contains(out, "Force PXE") {
		t.Errorf("ipmitool bootparam get 5 after reprovision:\n%s", out)
	}
	testutil.WaitFor(t, 30*time.Second, "the guest to be power-cycled", func() bool {
		pid := sim.QEMUPID()
		return pid != 0 && pid != running
	})
	if out := ipmitool(t, e, "chassis", "power", "status"); !strings.Contains(out, "Chassis Power is on") {
		t.Errorf("ipmitool power status after the cycle: %q", out)
	}
	provisioned("second install (power cycle)")

	if got := sim.Starts(); strings.Join(got, " ") != "pxe default pxe" {
		t.Errorf("QEMU starts by boot device %v, want pxe default pxe", got)
	}
	if got := sim.Log()[logBefore:]; !testutil.InOrder(got, []string{"boot_pxe", "power_0", "power_1"}) {
		t.Errorf("chassis commands of the reprovision %v, want boot pxe, power off, power on", got)
	}
	evs := e.admin.events(mac)[evBefore:]
	want := []string{"bmc.boot-device", "bmc.power.status", "bmc.power.cycle", "dhcp.offer", "agent.booted", "agent.verified", "kickstart.served", "installed"}
	if !testutil.InOrder(actions(evs), want) {
		t.Errorf("events of the reprovision %v, want in order %v", actions(evs), want)
	}
	if h := e.admin.host(mac); h.Netboot {
		t.Error("netboot still on after the install")
	}
	if got := debugfsCat(t, t.TempDir(), disk, "/etc/motd"); got != "good image\n" {
		t.Errorf("motd after the reprovision = %q", got)
	}
	t.Logf("whole test took %s", time.Since(begin).Round(time.Millisecond))
}

// checkBMCInventory: the inventory holds the LAN configuration ipmi_sim gives, read by
// the agent through the guest's /dev/ipmi0.
func checkBMCInventory(t *testing.T, e *podEnv, mac string) {
	t.Helper()
	var rec podmgr.Inventory
	if err := json.Unmarshal([]byte(e.admin.must("host", "inventory", mac, "-o", "json")), &rec); err != nil {
		t.Fatal(err)
	}
	var inv agentproto.Inventory
	if err := json.Unmarshal(rec.Data, &inv); err != nil {
		t.Fatal(err)
	}
	want := agentproto.BMC{Address: ipmiBMCAddr, Netmask: "255.255.255.0", Gateway: "192.0.2.1", MAC: ipmiBMCMAC, Source: "static", Channel: 1}
	if inv.BMC == nil || *inv.BMC != want {
		t.Fatalf("inventory BMC %+v, want %+v", inv.BMC, want)
	}
	if out := e.admin.must("host", "inventory", mac); !strings.Contains(out, ipmiBMCAddr) {
		t.Errorf("host inventory does not show the BMC address:\n%s", out)
	}
}
