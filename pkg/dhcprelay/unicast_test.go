package dhcprelay

import (
	"context"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
	dto "github.com/prometheus/client_model/go"
)

// Addresses of the unicast attack: pod b's host holds its reservation; an attacker on
// pod a's rack has an address of its own and a free one it would like.
const (
	victimIP   = "192.0.2.11"  // macB's reservation in pod b
	attackerIP = "192.0.2.150" // the attacker's own address on pod a's rack
	freeIP     = "192.0.2.120" // free in both pods' pools
	macOther   = "52:54:00:00:0e:01"
)

func withoutGiaddr() pktOpt { return withGiaddr("0.0.0.0") }

func withRelayInfo(circuit string) pktOpt {
	return withOpt(82, append([]byte{1, byte(len(circuit))}, circuit...))
}

func refusedCount(h *handler, pod, typ, reason string) float64 {
	var m dto.Metric
	if err := h.m.refused.WithLabelValues(pod, typ, reason).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestUnicastCannotHijack replays the cross-pod hijack: packets without giaddr, sent to
// the server from port 68 with pod b's host's MAC. None of them may touch its lease or
// give its address to another MAC; each is refused and counted.
func TestUnicastCannotHijack(t *testing.T) {
	tests := []struct {
		name   string
		mt     dhcpv4.MessageType
		src    string
		opts   []pktOpt
		reason string
	}{
		{"renew from another address", dhcpv4.MessageTypeRequest, attackerIP, []pktOpt{withCiaddr(freeIP)}, refuseSource},
		{"renew of a free address from it", dhcpv4.MessageTypeRequest, freeIP, []pktOpt{withCiaddr(freeIP)}, refuseNotLeased},
		{"renew that moves the host", dhcpv4.MessageTypeRequest, victimIP, []pktOpt{withCiaddr(victimIP), withRequested(freeIP)}, refuseMoves},
		{"init-reboot with ciaddr", dhcpv4.MessageTypeRequest, freeIP, []pktOpt{withCiaddr(freeIP), withRequested(freeIP)}, refuseNotLeased},
		{"release from another address", dhcpv4.MessageTypeRelease, attackerIP, []pktOpt{withCiaddr(victimIP)}, refuseSource},
		{"decline from another address", dhcpv4.MessageTypeDecline, attackerIP, []pktOpt{withCiaddr(victimIP), withRequested(victimIP)}, refuseSource},
		{"decline of another address", dhcpv4.MessageTypeDecline, victimIP, []pktOpt{withCiaddr(victimIP), withRequested(freeIP)}, refuseNotOwn},
		{"inform from another address", dhcpv4.MessageTypeInform, attackerIP, []pktOpt{withCiaddr(victimIP)}, refuseSource},
		{"inform of an address not leased", dhcpv4.MessageTypeInform, attackerIP, []pktOpt{withCiaddr(attackerIP)}, refuseNotLeased},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := twoPods(t, podmgr.PolicyIgnore)
			h := e.handler(Config{})
			dora(t, e, h, macB, peerOf(relayB, 67))
			opts := append([]pktOpt{withoutGiaddr()}, tc.opts...)
			res, rep := do(t, h, newPkt(t, tc.mt, macB, opts...), peerOf(tc.src, 68))
			if rep != nil || res.persist != nil || res.remove != nil || res.outcome != "refused" {
				t.Fatalf("outcome %s, reply %v, persist %v, remove %v: want refused, nothing", res.outcome, rep, res.persist, res.remove)
			}
			if n := refusedCount(h, "pod-b", typeLabel(tc.mt), tc.reason); n != 1 {
				t.Errorf("refused{reason=%s} = %v, want 1", tc.reason, n)
			}
			if ip, ok := h.leases.lookup("pod-b", macB, e.clock.Now()); !ok || ip.String() != victimIP {
				t.Errorf("pod b's host holds %v (%v), want %s", ip, ok, victimIP)
			}
			// The address stays the victim's: another MAC of pod b cannot get it.
			e.hosts(podmgr.Host{MAC: macOther, Pod: "pod-b"})
			res, _ = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macOther, withRequested(victimIP)), peerOf(relayB, 67))
			if res.outcome != "nak" {
				t.Errorf("another MAC asking for the victim's address: %s, want nak", res.outcome)
			}
		})
	}
}

// TestUnicastOwnLease: the host itself renews, informs and releases by unicast from its
// address, as dhclient and udhcpc do.
func TestUnicastOwnLease(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	dora(t, e, h, macB, peerOf(relayB, 67))
	from := peerOf(victimIP, 68)
	for _, tc := range []struct {
		mt      dhcpv4.MessageType
		outcome string
	}{
		{dhcpv4.MessageTypeRequest, "ack"},
		{dhcpv4.MessageTypeInform, "inform"},
		{dhcpv4.MessageTypeRelease, "released"},
	} {
		res, _ := do(t, h, newPkt(t, tc.mt, macB, withoutGiaddr(), withCiaddr(victimIP)), from)
		if res.outcome != tc.outcome {
			t.Fatalf("%s: %s, want %s", tc.mt, res.outcome, tc.outcome)
		}
		e.persist(res)
	}
	if _, ok := h.leases.lookup("pod-b", macB, e.clock.Now()); ok {
		t.Fatal("lease still held after the host's own release")
	}
}

// TestRelayedReleaseOfAnotherAddress: a RELEASE or DECLINE naming an address the MAC
// does not hold changes nothing, relayed or not.
func TestRelayedReleaseOfAnotherAddress(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	dora(t, e, h, macB, peerOf(relayB, 67))
	e.hosts(podmgr.Host{MAC: macOther, Pod: "pod-b"})
	for _, p := range []*dhcpv4.DHCPv4{
		newPkt(t, dhcpv4.MessageTypeRelease, macOther, withCiaddr(victimIP)),
		newPkt(t, dhcpv4.MessageTypeDecline, macOther, withRequested(victimIP)),
	} {
		res, _ := do(t, h, p, peerOf(relayB, 67))
		if res.outcome != "refused" || res.persist != nil || res.remove != nil {
			t.Fatalf("%s of another MAC's address: %s", p.MessageType(), res.outcome)
		}
	}
	if ip, ok := h.leases.lookup("pod-b", macB, e.clock.Now()); !ok || ip.String() != victimIP {
		t.Fatalf("victim holds %v (%v)", ip, ok)
	}
	if n := refusedCount(h, "pod-b", "release", refuseNotOwn) + refusedCount(h, "pod-b", "decline", refuseNotOwn); n != 2 {
		t.Fatalf("refused not_own_address = %v, want 2", n)
	}
}

// TestUnicastOption82IsNotEvidence: a client cannot pick a pod by writing option 82
// into a packet it sends itself.
func TestUnicastOption82IsNotEvidence(t *testing.T) {
	e := newTestEnv(t)
	p := stdPod("pod-c", relayA, podmgr.PolicyLease)
	p.Match = []podmgr.MatchRule{{CircuitID: "rack-c"}}
	e.pod(p)
	h := e.handler(Config{})
	res, _ := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macOther, withoutGiaddr(), withCiaddr(freeIP), withRelayInfo("rack-c")), peerOf(freeIP, 68))
	if res.outcome != "no_pod" || res.persist != nil {
		t.Fatalf("unicast with a forged circuit-id: %s", res.outcome)
	}
	// Relayed, the same option 82 is the relay's word and resolves the pod.
	res, _ = do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macOther, withRelayInfo("rack-c")), peerOf(relayA, 67))
	if res.outcome != "offer" {
		t.Fatalf("relayed: %s", res.outcome)
	}
}

// TestUnicastBehindNAT: a pod matched by a relaySource-only rule (its renewals arrive
// from the NAT's address) renews its own lease, and may not move a host.
func TestUnicastBehindNAT(t *testing.T) {
	const nat = "198.51.100.7"
	e := newTestEnv(t)
	p := stdPod("pod-n", nat, podmgr.PolicyLease)
	p.Match = []podmgr.MatchRule{{RelaySource: nat}}
	e.pod(p)
	h := e.handler(Config{})
	ack := dora(t, e, h, macOther, peerOf(nat, 67))
	ip := ack.YourIPAddr.String()
	res, _ := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macOther, withoutGiaddr(), withCiaddr(ip)), peerOf(nat, 68))
	if res.outcome != "ack" {
		t.Fatalf("renew through the NAT: %s", res.outcome)
	}
	other := "192.0.2.190"
	if ip == other {
		other = "192.0.2.191"
	}
	res, _ = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macOther, withoutGiaddr(), withCiaddr(other)), peerOf(nat, 68))
	if res.outcome != "refused" || refusedCount(h, "pod-n", "request", refuseMoves) != 1 {
		t.Fatalf("renew of another address through the NAT: %s", res.outcome)
	}
}

// TestUnusableReservationRefused: a stored reservation on the subnet's network,
// broadcast or gateway address, or the relay's address, is never offered or ACKed.
func TestUnusableReservationRefused(t *testing.T) {
	for _, tc := range []struct{ name, ip, giaddr string }{
		{"network", "192.0.2.0", rackGW},
		{"broadcast", "192.0.2.255", rackGW},
		{"gateway", rackGW, rackGW},
		{"relay address", "192.0.2.11", "192.0.2.11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			p := stdPod("pod-a", relayA, podmgr.PolicyIgnore)
			p.Match = []podmgr.MatchRule{{RelaySource: relayA}}
			e.pod(p)
			// Written as a store from before validation refused it would hold it.
			if err := e.store.Update(context.Background(), func(tx podmgr.Tx) error {
				return tx.PutHost(podmgr.Host{MAC: macOther, Pod: "pod-a", ProvisioningIP: tc.ip, Netboot: true, State: podmgr.StateRegistered})
			}); err != nil {
				t.Fatal(err)
			}
			e.reopen()
			h := e.handler(Config{})
			for _, pk := range []*dhcpv4.DHCPv4{
				newPkt(t, dhcpv4.MessageTypeDiscover, macOther, withGiaddr(tc.giaddr)),
				newPkt(t, dhcpv4.MessageTypeRequest, macOther, withGiaddr(tc.giaddr), withRequested(tc.ip), withServerID(serverAddr)),
			} {
				res, rep := do(t, h, pk, peerOf(relayA, 67))
				if rep != nil || res.persist != nil || res.outcome != "refused" {
					t.Fatalf("%s: outcome %s reply %v", pk.MessageType(), res.outcome, rep)
				}
			}
			if n := refusedCount(h, "pod-a", "discover", refuseUnusable) + refusedCount(h, "pod-a", "request", refuseUnusable); n != 2 {
				t.Fatalf("refused unusable_address = %v, want 2", n)
			}
		})
	}
}

// TestNoPodLabelIsBounded: packets no pod claims are counted under one relay label,
// whatever giaddr or source they carry; claimed ones by their UDP source, not giaddr.
func TestNoPodLabelIsBounded(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	for i := range 50 {
		g := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()
		res, _ := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, withGiaddr(g)), peerOf(g, 67))
		if res.outcome != "no_pod" || res.relay != noPodRelay {
			t.Fatalf("giaddr %s: outcome %s relay label %q", g, res.outcome, res.relay)
		}
	}
	if len(h.m.relays) != 1 {
		t.Fatalf("%d relay labels after 50 unknown giaddrs, want 1", len(h.m.relays))
	}
	res, _ := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS), peerOf(relayA, 67))
	if res.outcome != "offer" || res.relay != relayA {
		t.Fatalf("relayed: outcome %s relay label %q, want %s", res.outcome, res.relay, relayA)
	}
}

// TestUnicastOnLocalSegment: on the local interface's segment the same rules hold for a
// packet naming an address: from that address, for the MAC's own lease.
func TestUnicastOnLocalSegment(t *testing.T) {
	const lan = "203.0.113.1"
	e := newTestEnv(t)
	e.pod(podmgr.Pod{Name: "pod-local", ServerAddress: lan, UnknownHosts: podmgr.PolicyLease,
		Match:   []podmgr.MatchRule{{Giaddr: lan}},
		Subnets: []podmgr.Subnet{{CIDR: "203.0.113.0/24", Gateway: lan, LeaseSeconds: 600, RangeStart: "203.0.113.100", RangeEnd: "203.0.113.150"}}})
	h := e.handler(Config{})
	loc := local{addr: netip.MustParseAddr(lan)}
	run := func(p *dhcpv4.DHCPv4, from string) result {
		t.Helper()
		res := h.handle(context.Background(), p.ToBytes(), peerOf(from, 68), loc)
		e.persist(res)
		return res
	}
	offer := run(newPkt(t, dhcpv4.MessageTypeDiscover, macOther, withoutGiaddr()), "0.0.0.0")
	rep, err := dhcpv4.FromBytes(offer.reply)
	if err != nil {
		t.Fatalf("no offer: %s", offer.outcome)
	}
	ip := rep.YourIPAddr.String()
	if res := run(newPkt(t, dhcpv4.MessageTypeRequest, macOther, withoutGiaddr(), withRequested(ip), withServerID(lan)), "0.0.0.0"); res.outcome != "ack" {
		t.Fatalf("request on the segment: %s", res.outcome)
	}
	for _, tc := range []struct {
		name, from, ciaddr string
		opts               []pktOpt
		outcome            string
	}{
		{"renew from its address", ip, ip, nil, "ack"},
		{"renew from another address", "203.0.113.99", ip, nil, "refused"},
		{"renew naming another address", "203.0.113.149", "203.0.113.149", nil, "refused"},
		{"renew moving by option 50", ip, ip, []pktOpt{withRequested("203.0.113.149")}, "refused"},
	} {
		res := run(newPkt(t, dhcpv4.MessageTypeRequest, macOther, append([]pktOpt{withoutGiaddr(), withCiaddr(tc.ciaddr)}, tc.opts...)...), tc.from)
		if res.outcome != tc.outcome {
			t.Errorf("%s: %s, want %s", tc.name, res.outcome, tc.outcome)
		}
	}
	if got, ok := h.leases.lookup("pod-local", macOther, e.clock.Now()); !ok || got.String() != ip {
		t.Fatalf("host holds %v (%v), want %s", got, ok, ip)
	}
}
