package dhcprelay

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestServeRecordsExchange: every relayed ACK that left is an exchange with a new ID,
// whose source is the relay's UDP source address (not the giaddr it wrote); NAKs and
// other pods' lookups are not.
func TestServeRecordsExchange(t *testing.T) {
	e := newTestEnv(t)
	pod := loopbackPod("lo", "127.0.0.2")
	// 127.0.0.3 is in the pod's subnet: it is a relay's address only once a rule names it.
	pod.Match = append(pod.Match, podmgr.MatchRule{Giaddr: "127.0.0.2", RelaySource: "127.0.0.3"})
	e.pod(pod)
	s, _ := startServer(t, e, Config{Workers: 2})
	relay := newFakeRelay(t, "127.0.0.2")
	const mac = "52:54:00:01:00:01"
	if _, ok := s.LastExchange("lo", mac); ok {
		t.Fatal("an exchange before any packet")
	}
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, mac))
	offer := relay.recv(t, 5*time.Second)
	if offer == nil {
		t.Fatal("no offer")
	}
	if _, ok := s.LastExchange("lo", mac); ok {
		t.Fatal("an OFFER recorded as an exchange")
	}
	ip := offer.YourIPAddr.String()
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(ip), withServerID("127.0.0.1")))
	if ack := relay.recv(t, 5*time.Second); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatal("no ACK")
	}
	first, ok := s.LastExchange("lo", mac)
	if !ok || first.Source != netip.MustParseAddr("127.0.0.2") || first.MAC != mac || first.ID == 0 || time.Since(first.At) > time.Minute {
		t.Fatalf("after the ACK: %+v %v", first, ok)
	}
	if _, ok := s.LastExchange("other", mac); ok {
		t.Error("the exchange is visible under another pod")
	}
	// The same giaddr from another UDP source (a NAT in between): the exchange records
	// the UDP source.
	forged := newFakeRelay(t, "127.0.0.3")
	forged.addr = netip.MustParseAddr("127.0.0.2") // giaddr written into the packet
	forged.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(ip)))
	testutil.WaitFor(t, 5*time.Second, "a second exchange", func() bool {
		x, _ := s.LastExchange("lo", mac)
		return x.ID > first.ID
	})
	if x, _ := s.LastExchange("lo", mac); x.Source != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("second exchange source %s, want the UDP source 127.0.0.3", x.Source)
	}
}

// TestExchangesSwept: exchanges older than an hour go when the table has grown, the
// recent ones stay.
func TestExchangesSwept(t *testing.T) {
	e := newExchanges()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("198.51.100.2")
	for i := range minExchangeSweep - 1 {
		e.record("p", fmt.Sprintf("old-%d", i), start, src)
	}
	later := start.Add(2 * time.Hour)
	e.record("p", "new", later, src) // reaches the sweep size
	if _, ok := e.lookup("p", "old-0"); ok {
		t.Error("an exchange two hours old survived the sweep")
	}
	if x, ok := e.lookup("p", "new"); !ok || x.ID != minExchangeSweep {
		t.Errorf("the new exchange: %+v %v", x, ok)
	}
	if len(e.last) != 1 || e.sweepAt != minExchangeSweep {
		t.Errorf("after the sweep: %d entries, next sweep at %d", len(e.last), e.sweepAt)
	}
}
