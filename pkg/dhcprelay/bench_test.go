package dhcprelay

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

// BenchmarkHandleExchange is the packet path of one DISCOVER and one REQUEST (parse,
// resolve, lease table, reply), without the socket and the store commit.
func BenchmarkHandleExchange(b *testing.B) {
	e := newTestEnv(b)
	e.pod(stdPod("a", relayA, podmgr.PolicyLease))
	h := e.handler(Config{})
	peer := peerOf(relayA, 67)
	const clients = 64
	disc := make([][]byte, clients)
	req := make([][]byte, clients)
	for i := range clients {
		mac := fmt.Sprintf("52:54:00:00:00:%02x", i)
		disc[i] = newPkt(b, dhcpv4.MessageTypeDiscover, mac).ToBytes()
		_, offer := do(b, h, newPkt(b, dhcpv4.MessageTypeDiscover, mac), peer)
		req[i] = newPkt(b, dhcpv4.MessageTypeRequest, mac, withRequested(offer.YourIPAddr.String()), withServerID(serverAddr)).ToBytes()
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := h.handle(ctx, disc[i%clients], peer, local{}); r.reply == nil {
			b.Fatal("no offer: ", r.outcome)
		}
		if r := h.handle(ctx, req[i%clients], peer, local{}); r.reply == nil || r.persist == nil {
			b.Fatal("no ack: ", r.outcome)
		}
	}
}

// BenchmarkHandleUnicastRenew is the packet path of a unicast renewal (no giaddr, from
// the client's address): pod found by the MAC, the unicast rules, the lease extended.
func BenchmarkHandleUnicastRenew(b *testing.B) {
	e := newTestEnv(b)
	e.pod(stdPod("a", relayA, podmgr.PolicyLease))
	h := e.handler(Config{})
	const clients = 64
	renew := make([][]byte, clients)
	from := make([]netip.AddrPort, clients)
	for i := range clients {
		mac := fmt.Sprintf("52:54:00:00:00:%02x", i)
		ack := dora(b, e, h, mac, peerOf(relayA, 67))
		ip := ack.YourIPAddr.String()
		renew[i] = newPkt(b, dhcpv4.MessageTypeRequest, mac, withGiaddr("0.0.0.0"), withCiaddr(ip)).ToBytes()
		from[i] = peerOf(ip, 68)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := h.handle(ctx, renew[i%clients], from[i%clients], local{}); r.reply == nil || r.persist == nil {
			b.Fatal("no ack: ", r.outcome)
		}
	}
}
