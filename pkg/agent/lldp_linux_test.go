package agent

import (
	"context"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
)

// TestLLDPListener: the agent's packet socket hears real lldpd (the ToR's LLDP, as in
// the hardware e2e) through the multicast membership, and fill puts the neighbour on
// the NIC with link, returning as soon as every NIC with link has one.
func TestLLDPListener(t *testing.T) {
	testutil.RequireRoot(t, "lldpd", "lldpcli")
	tp := testutil.NewTopology(t)
	tor := tp.ToR(tp.Central("198.51.100.10/24"), "a", "198.51.100.2/24", "192.0.2.1/24", "")
	host := tor.Host("lldp", "52:54:00:00:11:01")
	// The host's port on the rack bridge (its only port), renamed as a VM's tap would be.
	port, _, _ := strings.Cut(strings.TrimSpace(tor.Run("ip", "-o", "-br", "link", "show", "master", "rack")), "@")
	tor.Run("ip", "link", "set", port, "down")
	tor.Run("ip", "link", "set", port, "name", "taplldp", "up")
	lldpd := tor.StartLLDP("tor-a")
	lldpd.Port("taplldp", "Ethernet1/7", "rack1 node7")

	var l *lldpListener
	inNetns(t, host.Name, func() {
		nic, err := net.InterfaceByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		l = listenLLDP(context.Background(), slog.Default(), []net.Interface{*nic})
	})
	defer l.stop()
	inv := agentproto.Inventory{NICs: []agentproto.NIC{{Name: "eth0", Link: true}, {Name: "eth1"}}}
	start := time.Now()
	l.fill(context.Background(), &inv, 30*time.Second)
	got := inv.NICs[0].LLDP
	if got == nil || got.ChassisID == "" || *got != (agentproto.LLDP{ChassisID: got.ChassisID, PortID: "Ethernet1/7", PortDescription: "rack1 node7", SystemName: "tor-a"}) {
		t.Log(lldpd.CLI("show", "statistics"), lldpd.CLI("show", "interfaces"))
		t.Fatalf("eth0 neighbour %+v, want port Ethernet1/7 (rack1 node7) of tor-a", got)
	}
	if inv.NICs[1].LLDP != nil || time.Since(start) > 15*time.Second {
		t.Fatalf("eth1 (no link) %+v; fill took %s, want it to end once eth0 heard one", inv.NICs[1].LLDP, time.Since(start))
	}
}

// inNetns runs fn on a thread switched into the named network namespace (sockets
// opened there stay in it).
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic(err) // the thread is in the wrong namespace: do not let it run anything else
		}
	}()
	fn()
}
