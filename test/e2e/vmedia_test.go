package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestVirtualMediaProvisionWithoutDHCP is issue 15's virtual-media acceptance test: a
// QEMU host on the rack with NO DHCP server reachable (no relay runs), behind the
// Redfish fixture driving it over QMP. `host reprovision MAC --via virtual-media`
// through the real binary: the fixture fetches the host's ISO from serve in the central
// namespace, the guest boots stage1 from it with its static provisioningIp, the agent
// chain-loads and verifies stage2 and applies the kickstart; then serve ejects the
// media and clears the boot override.
func TestVirtualMediaProvisionWithoutDHCP(t *testing.T) {
	testutil.RequireRoot(t, "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get")
	const mac, pass = "52:54:00:e2:e0:15", "rf-Secret-1515"
	e := newPodEnv(t, nil)
	admin, central, tor, work := e.admin, e.central, e.tor, e.work
	e.push("os:1", stage2Image(t, work, "good", "good image"), "stage2")
	pkg := filepath.Join(work, "bash-package.tgz")
	testutil.Run(t, e.src, "tar", "-C", filepath.Join(e.src, "artifacts", "bash", "example"), "-czf", pkg, ".")
	e.push("bash-example:1", pkg, "package")
	prof := filepath.Join(work, "e2e.yaml")
	if err := os.WriteFile(prof, []byte(profileYAML("e2e", "os@1", customKickstart(t, e.src))), 0o644); err != nil {
		t.Fatal(err)
	}
	admin.must("profile", "apply", "-f", prof)
	e.applyPod(podYAML)
	admin.must("host", "add", mac, "--pod", "pod-a", "--hostname", "node-vm", "--mgmt-ip", "203.0.113.25", "--ip", "192.0.2.60")

	// The BMC: the fixture in the test's namespace, reached by serve through a forward
	// in central; it fetches the ISO from inside central, as a BMC on that network.
	rf := testutil.StartRedfishBMC(t, "admin", pass)
	central.Forward(fmt.Sprintf("127.0.0.1:%d", rf.Port), fmt.Sprintf("%s:%d", rf.Host, rf.Port))
	dir := t.TempDir()
	sock := filepath.Join(dir, "qmp.sock")
	rf.DriveQEMU(sock, "cdrom0", dir)
	rf.FetchMediaFrom(central.DialContext)
	writeTo := func(name, body string) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin.must("host", "bmc", "set", mac, "--driver", "redfish", "--address", "127.0.0.1", "--port", fmt.Sprint(rf.Port), "--user", "admin",
		"--password-file", writeTo("bmc-pw", pass+"\n"), "--bmc-ca-cert", writeTo("bmc-ca.pem", rf.CACert))

	// The guest: on the rack bridge, an empty CD drive, a blank disk; -no-shutdown keeps
	// QEMU (and QMP) when the BMC powers it off.
	disk := newDisk(t, work, "vm")
	tap := testutil.GuestTap(t, tor, "vm")
	vm := tor.Start(nil, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-shutdown",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap), "-device", "virtio-net-pci,netdev=n0,mac="+mac,
		"-device", "virtio-rng-pci", "-qmp", "unix:"+sock+",server=on,wait=off",
		"-drive", "if=none,id=cd0,media=cdrom", "-device", "ide-cd,drive=cd0,bus=ide.1,id=cdrom0",
		"-drive", fmt.Sprintf("file=%s,format=raw,if=virtio", disk))
	testutil.WaitFor(t, 30*time.Second, "the QMP socket", func() bool { _, err := os.Stat(sock); return err == nil })

	begin := time.Now()
	if out := admin.must("host", "reprovision", mac, "--via", "virtual-media"); !strings.Contains(out, "stage1 ISO inserted") {
		t.Fatalf("reprovision said %q", out)
	}
	testutil.WaitFor(t, 5*time.Minute, "the host to install and its media to come out", func() bool {
		acts := rf.Actions()
		return admin.host(mac).State == podmgr.StateProvisioned && len(acts) > 0 && acts[len(acts)-1] == "Boot  Disabled "
	})
	t.Logf("virtual-media install took %s", time.Since(begin).Round(time.Millisecond))
	if h := admin.host(mac); h.Netboot {
		t.Fatalf("netboot on after the install\n%s", vm.Output())
	}
	acts := rf.Actions()
	if len(acts) == 7 && strings.HasPrefix(acts[1], "InsertMedia CD1 https://198.51.100.10:8443/vmedia/"+mac+"/pbv_") {
		acts[1] = "InsertMedia CD1"
	}
	if want := []string{"EjectMedia CD1", "InsertMedia CD1", "Boot Cd Once Legacy", "Reset ForceOff", "Reset On", "EjectMedia CD1", "Boot  Disabled "}; !slices.Equal(acts, want) {
		t.Fatalf("BMC saw %v, want %v", acts, want)
	}
	evs := admin.events(mac)
	want := []string{"bmc.media.insert", "bmc.boot-device", "bmc.power.cycle", "agent.booted", "agent.network", "agent.chainload", "agent.verified",
		"kickstart.served", "agent.kickstart", "installed", "bmc.media.eject", "bmc.boot-override.clear"}
	if !testutil.InOrder(actions(evs), want) {
		t.Fatalf("events %v, want in order %v", actions(evs), want)
	}
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "dhcp.") {
			t.Fatalf("a DHCP event for a host with no DHCP server: %+v", ev)
		}
		if ev.Action == "agent.network" && !strings.Contains(ev.Detail, "static=true") {
			t.Fatalf("agent.network %q, want static=true", ev.Detail)
		}
	}
	if got := debugfsCat(t, work, disk, "/etc/motd"); !strings.Contains(got, "good image") {
		t.Fatalf("/etc/motd on the installed disk: %q", got)
	}
}
