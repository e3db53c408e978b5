package dhcprelay

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestRelayedByHost: a packet with giaddr set whose UDP source is a host's address (in a
// pod's provisioning subnet, named by no pod as a relay's) is refused and counted, even
// for a pod matched by giaddr alone; relays sending from their WAN address, from the
// subnet's gateway or from a NAT address a rule names are served.
func TestRelayedByHost(t *testing.T) {
	const (
		giaddrB  = "203.0.113.1"
		relayNAT = "203.0.113.200" // a NAT pod's relay source, inside pod b's subnet
	)
	e := newTestEnv(t)
	e.pod(stdPod("pod-a", relayA, podmgr.PolicyLease)) // 192.0.2.0/24
	e.pod(podmgr.Pod{Name: "pod-b", ServerAddress: serverAddr, UnknownHosts: podmgr.PolicyLease,
		Match:   []podmgr.MatchRule{{Giaddr: giaddrB}},
		Subnets: []podmgr.Subnet{{CIDR: "203.0.113.0/24", Gateway: giaddrB, LeaseSeconds: 600, RangeStart: "203.0.113.100", RangeEnd: "203.0.113.150"}}})
	e.pod(podmgr.Pod{Name: "pod-nat", ServerAddress: serverAddr, UnknownHosts: podmgr.PolicyLease,
		Match:   []podmgr.MatchRule{{RelaySource: relayNAT}},
		Subnets: []podmgr.Subnet{{CIDR: "198.51.100.128/25", Gateway: "198.51.100.129", LeaseSeconds: 600, RangeStart: "198.51.100.200", RangeEnd: "198.51.100.250"}}})
	h := e.handler(Config{})
	victim := dora(t, e, h, macB, peerOf(relayB, 67), withGiaddr(giaddrB))
	victimIP := victim.YourIPAddr.String()
	ciaddr := withCiaddr(victimIP)

	tests := []struct {
		name    string
		mt      dhcpv4.MessageType
		src     string // UDP source
		opts    []pktOpt
		outcome string
	}{
		{"release from a host of another pod's rack", dhcpv4.MessageTypeRelease, "192.0.2.66", []pktOpt{withGiaddr(giaddrB), ciaddr}, "refused"},
		{"decline from a host of the pod's own rack", dhcpv4.MessageTypeDecline, "203.0.113.77", []pktOpt{withGiaddr(giaddrB), withRequested(victimIP)}, "refused"},
		{"request from a host", dhcpv4.MessageTypeRequest, "192.0.2.66", []pktOpt{withGiaddr(giaddrB), withRequested("203.0.113.120")}, "refused"},
		{"discover from a host with option 82", dhcpv4.MessageTypeDiscover, "192.0.2.66", []pktOpt{withGiaddr(giaddrB), withRelayInfo("rack-b")}, "refused"},
		{"discover from a host's IPv4-mapped source", dhcpv4.MessageTypeDiscover, "::ffff:192.0.2.66", []pktOpt{withGiaddr(giaddrB)}, "refused"},
		{"relay sending from its giaddr, the gateway", dhcpv4.MessageTypeRequest, giaddrB, []pktOpt{withGiaddr(giaddrB), withRequested(victimIP)}, "ack"},
		{"relay sending from another pod's gateway", dhcpv4.MessageTypeDiscover, rackGW, []pktOpt{withGiaddr(giaddrB)}, "offer"},
		{"NAT pod's relay source inside a subnet", dhcpv4.MessageTypeDiscover, relayNAT, []pktOpt{withGiaddr("198.51.100.129")}, "offer"},
		{"relay from its WAN address", dhcpv4.MessageTypeDiscover, relayB, []pktOpt{withGiaddr(giaddrB)}, "offer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := refusedCount(h, "pod-b", typeLabel(tc.mt), refuseHostRelay)
			res, rep := do(t, h, newPkt(t, tc.mt, macB, tc.opts...), peerOf(tc.src, 67))
			if res.outcome != tc.outcome {
				t.Fatalf("outcome %s, want %s", res.outcome, tc.outcome)
			}
			if tc.outcome != "refused" {
				return
			}
			if rep != nil || res.persist != nil || res.remove != nil {
				t.Fatalf("refused, yet reply %v, persist %v, remove %v", rep, res.persist, res.remove)
			}
			if n := refusedCount(h, "pod-b", typeLabel(tc.mt), refuseHostRelay) - before; n != 1 {
				t.Errorf("refused{reason=%s} rose by %v, want 1", refuseHostRelay, n)
			}
		})
	}
	if ip, ok := h.leases.pod("pod-b").bound(macB, e.clock.Now()); !ok || ip.String() != victimIP {
		t.Fatalf("the victim's lease after the forged packets: %v %v, want %s", ip, ok, victimIP)
	}
}
