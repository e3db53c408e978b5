//go:build bmcbench

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestBMCBench measures issue 15's "time from reprovision to installed" for the three
// out-of-band paths, one guest at a time, in one run: IPMI (ipmi_sim power-cycles a
// running QEMU guest into PXE), Redfish (the Redfish fixture drives a guest over QMP:
// boot Pxe once, ForceOff, On) and virtual media (the fixture inserts the host's stage1
// ISO, boot Cd once, ForceOff, On; no DHCP). The guests share one definition (TCG,
// 512 MiB, virtio NIC with the same ROM, virtio disk, 64 MiB); each path adds only
// what its BMC needs. Times are from just before the CLI call to the server's event
// timestamps. PODBOOT_BMC_BENCH_ROUNDS repeats the three (default 1), in reverse order
// in even rounds. It writes a Markdown table to PODBOOT_BMC_BENCH_OUT when set. Built only
// with the bmcbench tag: bench/bmc/run.sh runs it.
func TestBMCBench(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get", "ipmi_sim")
	e := newPodEnv(t, nil)
	e.push("os:1", stage2Image(t, e.work, "good", "good image"), "stage2")
	e.applyProfile("e2e", profileYAML("e2e", "os@1", ""))
	e.applyPod(podYAML)
	e.tor.StartRelay("198.51.100.10")
	e.tor.StartRouterAdvertisements()

	type result struct {
		path                     string
		offer, booted, installed time.Duration
	}
	measure := func(path, mac string, args ...string) result {
		t.Helper()
		t0 := time.Now()
		e.admin.must(append([]string{"host", "reprovision", mac}, args...)...)
		testutil.WaitFor(t, 6*time.Minute, path+" install", func() bool { return e.admin.host(mac).State == podmgr.StateProvisioned })
		r := result{path: path}
		for _, ev := range e.admin.events(mac) {
			if ev.Time.Before(t0) {
				continue
			}
			d := ev.Time.Sub(t0)
			switch {
			case ev.Action == "dhcp.offer" && r.offer == 0:
				r.offer = d
			case ev.Action == "agent.booted" && r.booted == 0:
				r.booted = d
			case ev.Action == "installed":
				r.installed = d
			}
		}
		t.Logf("%s: reprovision → installed %s", path, r.installed.Round(100*time.Millisecond))
		return r
	}

	// The hosts: one per path. IPMI's guest stays; the Redfish guests are new each round.
	const ipmiMAC, rfMAC, vmMAC = "52:54:00:e2:b0:01", "52:54:00:e2:b0:02", "52:54:00:e2:b0:03"
	e.admin.must("host", "add", ipmiMAC, "--pod", "pod-a", "--hostname", "bench-ipmi", "--mgmt-ip", "203.0.113.41")
	e.admin.must("host", "add", rfMAC, "--pod", "pod-a", "--hostname", "bench-rf", "--mgmt-ip", "203.0.113.42")
	e.admin.must("host", "add", vmMAC, "--pod", "pod-a", "--hostname", "bench-vm", "--mgmt-ip", "203.0.113.43", "--ip", "192.0.2.60")
	ipmiDisk := newDisk(t, e.work, "bipmi")
	sim := ipmiGuest(t, e, "bipmi", ipmiMAC, ipmiDisk)
	rounds, _ := strconv.Atoi(os.Getenv("PODBOOT_BMC_BENCH_ROUNDS"))
	var results [][3]result // per round: IPMI, Redfish PXE, virtual media
	for round := 1; round <= max(rounds, 1); round++ {
		var r [3]result
		paths := []func(){
			func() {
				// IPMI: the guest runs its "installed OS" from disk (see installDiskOS).
				installDiskOS(t, ipmiDisk)
				seen := strings.Count(sim.Console(), installedOSMarker)
				e.admin.must("host", "boot-device", ipmiMAC, "disk")
				e.admin.must("host", "power", "on", ipmiMAC)
				testutil.WaitFor(t, time.Minute, "the IPMI guest to boot its disk", func() bool { return strings.Count(sim.Console(), installedOSMarker) > seen })
				r[0] = measure(fmt.Sprintf("IPMI power cycle → PXE (round %d)", round), ipmiMAC, "--power-cycle")
				e.admin.must("host", "power", "off", ipmiMAC)
				testutil.WaitFor(t, time.Minute, "the IPMI guest to go off", func() bool { return sim.QEMUPID() == 0 })
			},
			func() {
				// Redfish PXE: the fixture drives a paused (-S) guest over QMP.
				vm := redfishGuest(t, e, fmt.Sprintf("brf%d", round), rfMAC)
				r[1] = measure(fmt.Sprintf("Redfish power cycle → PXE (round %d)", round), rfMAC, "--power-cycle")
				vm.Stop()
			},
			func() {
				vm := redfishGuest(t, e, fmt.Sprintf("bvm%d", round), vmMAC)
				r[2] = measure(fmt.Sprintf("Redfish virtual media, no DHCP (round %d)", round), vmMAC, "--via", "virtual-media")
				vm.Stop()
			},
		}
		if round%2 == 0 { // even rounds run the paths in reverse order: the load drifts
			slices.Reverse(paths)
		}
		for _, run := range paths {
			run()
		}
		results = append(results, r)
	}

	up, _ := os.ReadFile("/proc/loadavg")
	var b strings.Builder
	fmt.Fprintf(&b, "| path | → DHCP offer (s) | → agent booted (s) | → installed (s) | ÷ virtual media (same round) |\n|---|---|---|---|---|\n")
	for _, round := range results {
		for _, r := range round {
			offer := "—"
			if r.offer > 0 {
				offer = fmt.Sprintf("%.1f", r.offer.Seconds())
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.2f |\n", r.path, offer, r.booted.Seconds(), r.installed.Seconds(), r.installed.Seconds()/round[2].installed.Seconds())
		}
	}
	for i, r := range results {
		fmt.Fprintf(&b, "\nRound %d: IPMI ÷ Redfish PXE %.2f.", i+1, r[0].installed.Seconds()/r[1].installed.Seconds())
	}
	fmt.Fprintf(&b, "\nLoad average after the run: %s", up)
	t.Logf("\n%s", b.String())
	if out := os.Getenv("PODBOOT_BMC_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		// The IPMI guest's console (every boot), to see where its time went.
		if err := os.WriteFile(out+".ipmi-console.log", []byte(sim.Console()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// redfishGuest starts the bench's guest behind a Redfish fixture that drives it over
// QMP, paused (-S: "off" until the fixture's On), and sets it as the host's BMC. Same
// guest as ipmiGuest (TCG, 512 MiB, virtio NIC first in the boot order, virtio disk)
// plus an empty CD drive for virtual media; -no-shutdown keeps QEMU when it is off.
func redfishGuest(t *testing.T, e *podEnv, name, mac string) *testutil.Proc {
	t.Helper()
	const pass = "rf-Bench-15"
	rf := testutil.StartRedfishBMC(t, "admin", pass)
	e.central.Forward(fmt.Sprintf("127.0.0.1:%d", rf.Port), fmt.Sprintf("%s:%d", rf.Host, rf.Port))
	dir := t.TempDir()
	sock := filepath.Join(dir, "qmp.sock")
	rf.DriveQEMU(sock, "cdrom0", dir)
	rf.FetchMediaFrom(e.central.DialContext)
	pw, ca := filepath.Join(dir, "pw"), filepath.Join(dir, "ca.pem")
	os.WriteFile(pw, []byte(pass+"\n"), 0o600)
	os.WriteFile(ca, []byte(rf.CACert), 0o600)
	e.admin.must("host", "bmc", "set", mac, "--driver", "redfish", "--address", "127.0.0.1", "--port", fmt.Sprint(rf.Port), "--user", "admin",
		"--password-file", pw, "--bmc-ca-cert", ca)
	tap := "tap" + name
	e.tor.Run("ip", "tuntap", "add", tap, "mode", "tap")
	e.tor.Run("ip", "link", "set", tap, "master", "rack", "up")
	t.Cleanup(func() { e.tor.Run("ip", "link", "del", tap) })
	disk := newDisk(t, e.work, name)
	vm := e.tor.Start(nil, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-shutdown", "-S",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap), "-device", "virtio-rng-pci",
		"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=d0", disk),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,bootindex=1", mac), "-device", "virtio-blk-pci,drive=d0",
		"-qmp", "unix:"+sock+",server=on,wait=off",
		"-drive", "if=none,id=cd0,media=cdrom", "-device", "ide-cd,drive=cd0,bus=ide.1,id=cdrom0")
	testutil.WaitFor(t, 30*time.Second, "the QMP socket", func() bool { _, err := os.Stat(sock); return err == nil })
	return vm
}
