package dhcprelay

import (
	"net/netip"
	"testing"
)

// TestReplyDest: relayed replies go to giaddr, to the relay's source port with RFC 8357,
// and to the relay's UDP source (address and port) for a pod with replyTo relaySource.
func TestReplyDest(t *testing.T) {
	giaddr := netip.MustParseAddr("192.0.2.1")
	relay := netip.MustParseAddrPort("198.51.100.2:67")
	natted := netip.MustParseAddrPort("[::ffff:203.0.113.9]:40067")
	for _, tc := range []struct {
		name string
		r    request
		want string
	}{
		{"giaddr", request{giaddr: giaddr, peer: relay}, "192.0.2.1:67"},
		{"giaddr, RFC 8357 source port", request{giaddr: giaddr, peer: natted, relay: relayInfo{sourcePort: true}}, "192.0.2.1:40067"},
		{"relaySource", request{giaddr: giaddr, peer: relay, toSource: true}, "198.51.100.2:67"},
		{"relaySource behind NAT", request{giaddr: giaddr, peer: natted, toSource: true}, "203.0.113.9:40067"},
		{"relaySource, unicast renew goes to ciaddr", request{ciaddr: netip.MustParseAddr("192.0.2.100"), peer: relay, toSource: true}, "192.0.2.100:68"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := replyDest(&tc.r, false)
			if !ok || d.broadcast || d.addr.String() != tc.want {
				t.Fatalf("replyDest = %v %v, want %s", d, ok, tc.want)
			}
		})
	}
}
