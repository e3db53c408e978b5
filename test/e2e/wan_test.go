package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// wanStages are the boot stages measured from a host's events (server time), each
// from the event before it.
var wanStages = []struct{ name, action, detail string }{
	{"offer", "dhcp.offer", ""},
	{"loader", "http.sent", "file=ipxe.efi@"}, // UEFI HTTP Boot only
	{"loader", "tftp.sent", "file=ipxe.efi@"}, // UEFI PXE only
	{"script", "http.script", ""},
	{"kernel", "http.sent", "file=stage1-kernel@"},
	{"initrd", "http.sent", "file=stage1-initrd@"},
	{"agent up", "agent.booted", ""},
	{"chainload", "agent.chainload", ""},
	{"stage2", "agent.verified", ""},
	{"installed", "installed", ""},
}

// stageTimes is each stage's duration (from the previous stage found) and the total
// from the offer to installed.
func stageTimes(evs []podmgr.Event) (names []string, durs []time.Duration, total time.Duration) {
	var prev, first time.Time
	for _, st := range wanStages {
		for _, e := range evs {
			if e.Action != st.action || !strings.HasPrefix(e.Detail, st.detail) {
				continue
			}
			if first.IsZero() {
				first = e.Time
			} else {
				names, durs = append(names, st.name), append(durs, e.Time.Sub(prev))
			}
			prev = e.Time
			break
		}
	}
	return names, durs, prev.Sub(first)
}

// rrqOptions returns the file name and options of a TFTP read request in an Ethernet
// frame (IPv4, UDP port 69), or ok false.
func rrqOptions(frame []byte) (file string, opts []string, ok bool) {
	if len(frame) < 14+20+8+4 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		return "", nil, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != 17 || len(ip) < ihl+8+4 {
		return "", nil, false
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != 69 || binary.BigEndian.Uint16(udp[8:]) != 1 {
		return "", nil, false
	}
	parts := bytes.Split(bytes.TrimRight(udp[10:], "\x00"), []byte{0})
	for _, p := range parts[min(2, len(parts)):] {
		opts = append(opts, string(p))
	}
	return string(parts[0]), opts, true
}

// wanBoot boots one host of path ("uefi-http", "uefi-pxe" or "bios-ipxe") through the
// site's WAN and returns its events; during, if not nil, runs while it boots.
func wanBoot(t *testing.T, e *site, path, name, mac string, during func(mac string)) []podmgr.Event {
	t.Helper()
	n := strings.Count(e.admin.must("host", "list", "-o", "json"), `"mac"`)
	e.admin.must("host", "add", mac, "--pod", "pod-a", "--hostname", name, "--mgmt-ip", fmt.Sprintf("203.0.113.%d", 100+n))
	disk := newDisk(t, e.work, name)
	var v *vm
	switch path {
	case "uefi-http":
		v = startOVMF(t, e.tor, e.work, name, mac, disk)
	case "uefi-pxe":
		v = startOVMFPXE(t, e.tor, e.work, name, mac, disk)
	default:
		v = startVM(t, e.tor, name, mac, disk)
	}
	if during != nil {
		during(mac)
	}
	v.waitExit(t, 10*time.Minute, name+" to install and power off")
	if h := e.admin.host(mac); h.State != podmgr.StateProvisioned {
		t.Fatalf("%s: state %s reason %q\n%s", name, h.State, h.StateReason, v.proc.Output())
	}
	v.proc.Stop()
	return e.admin.events(mac)
}

// waitAction polls the host's events until one has action.
func waitAction(t *testing.T, e *site, mac, action string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !testutil.InOrder(actions(e.admin.events(mac)), []string{action}) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for %s within %s", action, mac, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestWANBoot provisions a UEFI HTTP Boot host across an emulated WAN of 100 ms RTT and
// 1 % loss per direction, and cuts the WAN for 30 s in the middle of its stage2
// download, dropping the server's side of the connection meanwhile: the agent resumes
// the download with Range once the WAN is back, and the host is provisioned. Then a
// UEFI PXE host fetches ipxe.efi over TFTP across the same WAN, windowed.
func TestWANBoot(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get", "curl", "ss")
	e := newSite(t, &testutil.WANConfig{Delay: 50 * time.Millisecond, Loss: 0.01})
	const cut = 30 * time.Second
	var cutAt, restoredAt time.Time
	evs := wanBoot(t, e, "uefi-http", "wan1", "52:54:00:e2:e1:01", func(mac string) {
		waitAction(t, e, mac, "agent.chainload", 5*time.Minute)
		// 2 MB of the 14 MB image past the chain-load (the signature comes first).
		base := e.wan.Forwarded[0].Load()
		testutil.WaitFor(t, 2*time.Minute, "2 MB of stage2 across the WAN", func() bool {
			return e.wan.Forwarded[0].Load()-base > 2<<20
		})
		e.wan.SetDown(true)
		cutAt = time.Now()
		// A NAT or firewall on the path that loses its state during the outage: the
		// server's connections to the rack are gone, so when the WAN is back the
		// agent's connection is reset and it must resume with Range.
		e.central.Run("ss", "-K", "-tn", "dst", "192.0.2.0/24")
		time.Sleep(cut) // the outage itself
		e.wan.SetDown(false)
		restoredAt = time.Now()
	})
	var verified string
	for _, ev := range evs {
		if ev.Action == "agent.verified" {
			verified = ev.Detail
			if strings.Contains(verified, "resumes 0") || !strings.Contains(verified, "resumes ") {
				t.Errorf("stage2 did not resume after its connection was dropped: %s", verified)
			}
			if ev.Time.Before(restoredAt) {
				t.Errorf("stage2 verified at %s, before the WAN came back at %s", ev.Time, restoredAt)
			}
		}
	}
	names, durs, total := stageTimes(evs)
	t.Logf("WAN cut %s at %s; stages %v %v; offer → installed %s; %s", cut, cutAt.Format("15:04:05"), names, durs, total, verified)

	// UEFI PXE across the same lossy WAN: ipxe.efi over TFTP with the windowsize OVMF
	// asks for (4), lost blocks and ACKs included.
	var mu sync.Mutex
	var rrqs []string
	e.wan.Observe(func(dir int, frame []byte) {
		if file, opts, ok := rrqOptions(frame); ok && dir == 1 {
			mu.Lock()
			rrqs = append(rrqs, file+" "+strings.Join(opts, " "))
			mu.Unlock()
		}
	})
	evs = wanBoot(t, e, "uefi-pxe", "wan2", "52:54:00:e2:e1:02", nil)
	mu.Lock()
	t.Logf("TFTP read requests: %q", rrqs)
	mu.Unlock()
	names, durs, total = stageTimes(evs)
	if len(names) == 0 || names[0] != "loader" {
		t.Fatalf("no ipxe.efi over TFTP in the events: %v", actions(evs))
	}
	t.Logf("UEFI PXE: stages %v %v; offer → installed %s", names, durs, total)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
