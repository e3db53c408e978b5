package dhcprelay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/internal/testutil"
)

// TestRenewAnsweredWhileStoreDown: with every commit failing, a renewal of a lease the
// store holds is ACKed for what remains of the stored lease (not the pod's full lease
// time) and counted ack_degraded, and the table is not advanced past the stored expiry;
// a new client and a move get no ACK and are counted commit_failed.
func TestRenewAnsweredWhileStoreDown(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("lo", "127.0.0.2")) // 600 s leases
	s, reg := startServer(t, e, Config{Workers: 1}, func(s *Server) { s.h.now = e.clock.Now })
	relay := newFakeRelay(t, "127.0.0.2")
	const macOld, macNew = "52:54:00:01:03:01", "52:54:00:01:03:02"
	lease := func(mac string) netip.Addr {
		t.Helper()
		relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, mac))
		offer := relay.recv(t, 5*time.Second)
		if offer == nil {
			t.Fatalf("no offer for %s", mac)
		}
		relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(offer.YourIPAddr.String()), withServerID("127.0.0.1")))
		return netip.MustParseAddr(offer.YourIPAddr.String())
	}
	ip := lease(macOld)
	if ack := relay.recv(t, 5*time.Second); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("no ACK before the outage: %v", ack)
	}
	stored := e.clock.Now().Add(600 * time.Second)
	e.clock.Advance(200 * time.Second)
	if err := e.store.Close(); err != nil { // every commit fails from now on
		t.Fatal(err)
	}

	// INIT-REBOOT of the stored lease: ACKed for the 400 s the store still holds.
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, macOld, withRequested(ip.String())))
	ack := relay.recv(t, 5*time.Second)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.Equal(ip.AsSlice()) {
		t.Fatalf("renewal of a stored lease not ACKed during the outage: %v", ack)
	}
	for _, c := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"lease time", ack.IPAddressLeaseTime(0), 400 * time.Second},
		{"T1", ack.IPAddressRenewalTime(0), 200 * time.Second},
		{"T2", ack.IPAddressRebindingTime(0), 350 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("degraded ACK %s %v, want %v", c.name, c.got, c.want)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "the degraded ACK to be counted", func() bool {
		return packetCount(t, reg, "lo", "127.0.0.2", "request", "ack_degraded") == 1
	})
	pl := s.h.leases.pod("lo")
	pl.mu.Lock()
	got := pl.byMAC[macOld].expires
	pl.mu.Unlock()
	if !got.Equal(stored) {
		t.Fatalf("table holds %s's lease until %v after the failed commit, the store until %v", macOld, got, stored)
	}

	// A move to another address is not durable: no ACK, and the stored lease stays.
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, macOld, withRequested("127.1.200.1")))
	if rep := relay.recv(t, 300*time.Millisecond); rep != nil {
		t.Fatalf("a move got a %s during the outage", rep.MessageType())
	}
	testutil.WaitFor(t, 5*time.Second, "the withheld move to be counted", func() bool {
		return packetCount(t, reg, "lo", "127.0.0.2", "request", "commit_failed") == 1
	})
	if cur, ok := pl.bound(macOld, e.clock.Now()); !ok || cur != ip {
		t.Fatalf("after the failed move %s holds %v (%v), want %v", macOld, cur, ok, ip)
	}

	// A new client: OFFER (memory only) but no ACK, and no bound lease in the table.
	ipNew := lease(macNew)
	if rep := relay.recv(t, 300*time.Millisecond); rep != nil {
		t.Fatalf("a new lease got a %s during the outage", rep.MessageType())
	}
	testutil.WaitFor(t, 5*time.Second, "the withheld ACK to be counted", func() bool {
		return packetCount(t, reg, "lo", "127.0.0.2", "request", "commit_failed") == 2
	})
	if cur, ok := pl.bound(macNew, e.clock.Now()); ok {
		t.Fatalf("the table holds a bound lease %v (offered %v) the store never got", cur, ipNew)
	}
	if n := packetCount(t, reg, "lo", "127.0.0.2", "request", "ack"); n != 1 {
		t.Fatalf("ack counter %v, want 1 (the ACK before the outage)", n)
	}
}
