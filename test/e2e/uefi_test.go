package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// httpBootMAC is the host that boots with UEFI HTTP Boot (OVMF, no iPXE ROM).
const httpBootMAC = "52:54:00:e2:e0:03"

// ovmfCode and ovmfVars are Debian's OVMF firmware (package ovmf), Secure Boot off.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// startOVMF runs a QEMU guest with OVMF on a tap in the ToR's rack bridge: virtio-net
// with no option ROM (romfile=), so the firmware's own network stack boots, and OVMF's
// PXE entries switched off (fw_cfg), so its first network boot option is UEFI HTTPv4.
func startOVMF(t *testing.T, tor *testutil.ToR, dir, name, mac, disk string) *vm {
	t.Helper()
	return startOVMFWith(t, tor, dir, name, mac, disk,
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
}

// startOVMFPXE is startOVMF with UEFI PXE left on (it comes first: ipxe.efi over TFTP).
func startOVMFPXE(t *testing.T, tor *testutil.ToR, dir, name, mac, disk string) *vm {
	t.Helper()
	return startOVMFWith(t, tor, dir, name, mac, disk, "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no")
}

func startOVMFWith(t *testing.T, tor *testutil.ToR, dir, name, mac, disk string, fwcfg ...string) *vm {
	t.Helper()
	vars := filepath.Join(dir, name+"-vars.fd")
	b, err := os.ReadFile(ovmfVars)
	if err != nil {
		t.Fatalf("OVMF (Debian package ovmf, scripts/deps.sh): %v", err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tap := testutil.GuestTap(t, tor, name)
	args := append([]string{"qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "512", "-nographic", "-no-reboot", "-vga", "none",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars}, fwcfg...)
	p := tor.Start(nil, append(args,
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,romfile=,bootindex=1", mac),
		"-drive", fmt.Sprintf("file=%s,format=raw,if=virtio", disk),
		"-device", "virtio-rng-pci")...)
	return &vm{proc: p, disk: disk}
}

// udpPortCounter counts, with an nftables rule in ns, every packet that reaches ns for
// UDP port port; read returns the count so far.
func udpPortCounter(t *testing.T, ns *testutil.NS, port int) (read func() int) {
	t.Helper()
	table := fmt.Sprintf("e2e_udp%d", port)
	ns.Run("nft", "add", "table", "inet", table)
	ns.Run("nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }")
	ns.Run("nft", "add", "rule", "inet", table, "in", "udp", "dport", strconv.Itoa(port), "counter")
	t.Cleanup(func() { exec.Command("ip", "netns", "exec", ns.Name, "nft", "delete", "table", "inet", table).Run() })
	re := regexp.MustCompile(`counter packets (\d+)`)
	return func() int {
		m := re.FindStringSubmatch(ns.Run("nft", "list", "chain", "inet", table, "in"))
		if m == nil {
			t.Fatalf("no counter in nft table %s", table)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// tftpMetrics is every podboot_tftp_* sample of the running serve, one per line.
func tftpMetrics(t *testing.T, central *testutil.NS, pki string) string {
	t.Helper()
	out := central.Run("curl", "-sf", "--cacert", filepath.Join(pki, "ca.pem"), "https://127.0.0.1:9443/metrics")
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "podboot_tftp_") && !strings.HasPrefix(l, "podboot_tftp_active_transfers") && !strings.HasPrefix(l, "podboot_tftp_slots_in_use") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// testUEFIHTTPBoot provisions a host that boots with UEFI HTTP Boot through ISC
// dhcrelay: OVMF gets the URL of ipxe.efi (option 60 HTTPClient echoed), fetches it
// over HTTP through the boot gate, and iPXE loads the script, kernel and initrd over
// HTTP. Not one TFTP packet reaches the central node.
func testUEFIHTTPBoot(t *testing.T, admin *cli, central *testutil.NS, tor *testutil.ToR, work string) {
	tftpPackets := udpPortCounter(t, central, 69)
	pki := filepath.Dir(admin.caCert)
	before := tftpMetrics(t, central, pki)
	disk := newDisk(t, work, "uefi")
	begin := time.Now()
	v := startOVMF(t, tor, work, "uefi", httpBootMAC, disk)
	v.waitExit(t, 4*time.Minute, "the UEFI HTTP Boot host to install and power off")
	t.Logf("UEFI HTTP Boot install run took %s", time.Since(begin).Round(time.Millisecond))
	con := v.proc.Output()
	macPath := strings.ReplaceAll(httpBootMAC, ":", "-")
	url := "http://198.51.100.10:8080/boot/pod-a/" + macPath + "/ipxe.efi"
	for _, want := range []string{">>Start HTTP Boot over IPv4", "URI: " + url, "iPXE initialising devices"} {
		if !strings.Contains(con, want) {
			t.Fatalf("console lacks %q:\n%s", want, con)
		}
	}
	h := admin.host(httpBootMAC)
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("host: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, con)
	}
	acts := actions(admin.events(httpBootMAC))
	if !testutil.InOrder(acts, []string{"dhcp.offer", "http.sent", "http.script", "http.sent", "http.sent", "agent.booted", "agent.verified", "installed"}) {
		t.Fatalf("events %v", acts)
	}
	var loader bool
	for _, e := range admin.events(httpBootMAC) {
		loader = loader || e.Action == "http.sent" && strings.HasPrefix(e.Detail, "file=ipxe.efi@1 ")
		if strings.HasPrefix(e.Action, "tftp.") {
			t.Errorf("TFTP event %s %s", e.Action, e.Detail)
		}
	}
	if !loader {
		t.Errorf("no http.sent event for ipxe.efi: %v", acts)
	}
	if n := tftpPackets(); n != 0 {
		t.Errorf("%d TFTP packets reached the central node", n)
	}
	if after := tftpMetrics(t, central, pki); after != before {
		t.Errorf("TFTP metrics changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if got := debugfsCat(t, work, disk, "/etc/hostname"); got != "node3\n" {
		t.Errorf("/etc/hostname on the disk = %q", got)
	}
}
