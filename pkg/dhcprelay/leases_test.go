package dhcprelay

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

func leasePod(t *testing.T, first, last string) *testEnv {
	e := newTestEnv(t)
	p := stdPod("pod-a", relayA, podmgr.PolicyLease)
	p.Subnets[0].RangeStart, p.Subnets[0].RangeEnd = first, last
	e.pod(p)
	return e
}

func TestLeasesSurviveRestart(t *testing.T) {
	e := leasePod(t, "192.0.2.100", "192.0.2.199")
	h := e.handler(Config{})
	a := peerOf(relayA, 67)
	got := map[string]string{}
	for i := range 5 {
		mac := fmt.Sprintf("52:54:00:ee:00:%02x", i)
		got[mac] = dora(t, e, h, mac, a).YourIPAddr.String()
	}
	e.reopen()
	h = e.handler(Config{})
	// After the restart a new client must not get any of the stored addresses, and each
	// old client gets its own back.
	fresh := dora(t, e, h, "52:54:00:ee:01:00", a).YourIPAddr.String()
	for mac, ip := range got {
		if ip == fresh {
			t.Fatalf("address %s of %s was given to a new client after restart", ip, mac)
		}
		_, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac), a)
		if offer == nil || offer.YourIPAddr.String() != ip {
			t.Fatalf("%s: offered %v after restart, want %s", mac, offer, ip)
		}
	}
}

func TestDeclineQuarantines(t *testing.T) {
	e := leasePod(t, "192.0.2.100", "192.0.2.101")
	h := e.handler(Config{DeclineQuarantine: time.Hour})
	a := peerOf(relayA, 67)
	ack := dora(t, e, h, "52:54:00:ee:00:01", a)
	ip := ack.YourIPAddr.String()
	res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDecline, "52:54:00:ee:00:01", withRequested(ip), withServerID(serverAddr)), a)
	if rep != nil || res.outcome != "declined" || res.persist == nil || !res.persist.Declined {
		t.Fatalf("decline: outcome %s persist %+v", res.outcome, res.persist)
	}
	e.persist(res)
	// Restart: the quarantine holds; the two clients share the one address left.
	e.reopen()
	h = e.handler(Config{DeclineQuarantine: time.Hour})
	for _, mac := range []string{"52:54:00:ee:00:01", "52:54:00:ee:00:02"} {
		res, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac), a)
		if mac == "52:54:00:ee:00:01" {
			if offer == nil || offer.YourIPAddr.String() == ip {
				t.Fatalf("declined address %s offered again (%v)", ip, offer)
			}
			continue
		}
		if offer != nil || res.outcome != "no_address" {
			t.Fatalf("second client: outcome %s, want no_address while %s is quarantined", res.outcome, ip)
		}
	}
	e.clock.Advance(time.Hour + time.Second)
	_, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:ee:00:02"), a)
	if offer == nil || offer.YourIPAddr.String() != ip {
		t.Fatalf("after the quarantine %s should be free again: %v", ip, offer)
	}
}

func TestExpiredLeasesAreReused(t *testing.T) {
	e := leasePod(t, "192.0.2.100", "192.0.2.101")
	h := e.handler(Config{})
	a := peerOf(relayA, 67)
	dora(t, e, h, "52:54:00:ee:00:01", a)
	dora(t, e, h, "52:54:00:ee:00:02", a)
	if res, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:ee:00:03"), a); offer != nil || res.outcome != "no_address" {
		t.Fatalf("pool of 2 gave a third address: %s", res.outcome)
	}
	e.clock.Advance(601 * time.Second) // lease time 600 s
	ack := dora(t, e, h, "52:54:00:ee:00:03", a)
	if ip := ack.YourIPAddr.String(); ip != "192.0.2.100" && ip != "192.0.2.101" {
		t.Fatalf("got %s", ip)
	}
	// And after a restart the expired stored leases do not come back.
	e.reopen()
	h = e.handler(Config{})
	dora(t, e, h, "52:54:00:ee:00:04", a)
}

func TestRenewRebindReleaseNak(t *testing.T) {
	e := twoPods(t, podmgr.PolicyLease)
	h := e.handler(Config{})
	a := peerOf(relayA, 67)
	ack := dora(t, e, h, macDyn, a)
	ip := ack.YourIPAddr.String()

	// RENEWING: unicast from the client, giaddr 0: the answer goes to ciaddr:68.
	client := peerOf(ip, 68)
	res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macDyn, withGiaddr("0.0.0.0"), withCiaddr(ip)), client)
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck || res.dst.addr.String() != ip+":68" || res.pod != "pod-a" {
		t.Fatalf("renew: outcome %s dst %s pod %s", res.outcome, res.dst.addr, res.pod)
	}
	if rep.ClientIPAddr.String() != ip || res.persist == nil {
		t.Fatalf("renew ACK ciaddr %s persist %v", rep.ClientIPAddr, res.persist)
	}
	// An unknown MAC renewing unicast is resolved by its lease.
	other := dora(t, e, h, "52:54:00:ff:00:01", a).YourIPAddr.String()
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, "52:54:00:ff:00:01", withGiaddr("0.0.0.0"), withCiaddr(other)), peerOf(other, 68))
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renew of a leased unknown host: %s", res.outcome)
	}
	// REBINDING: broadcast, relayed.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macDyn, withCiaddr(ip)), a)
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck || res.dst.addr.String() != rackGW+":67" {
		t.Fatalf("rebind: %s", res.outcome)
	}
	// INIT-REBOOT with someone else's address: NAK, broadcast by the relay.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macDyn, withRequested(other)), a)
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeNak || !rep.IsBroadcast() {
		t.Fatalf("init-reboot with a taken address: %s", res.outcome)
	}
	// A reserved host asking for an address that is not its reservation: NAK.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macBIOS, withRequested("192.0.2.150")), a)
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeNak {
		t.Fatalf("reserved host, wrong address: %s", res.outcome)
	}
	// SELECTING another server: silence, and the offer is dropped.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macBIOS, withRequested("192.0.2.11"), withServerID("203.0.113.9")), a)
	if rep != nil || res.outcome != "other_server" {
		t.Fatalf("request for another server: %s", res.outcome)
	}
	// RELEASE frees the address at once.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeRelease, macDyn, withGiaddr("0.0.0.0"), withCiaddr(ip), withServerID(serverAddr)), client)
	if rep != nil || res.outcome != "released" || res.remove == nil {
		t.Fatalf("release: %s", res.outcome)
	}
	if h.leases.pod("pod-a").holds(macDyn, netip.MustParseAddr(ip), e.clock.Now()) {
		t.Fatal("released address still held")
	}
	// INFORM: configuration without an address.
	res, rep = do(t, h, newPkt(t, dhcpv4.MessageTypeInform, macDyn, withCiaddr("192.0.2.77")), a)
	if rep == nil || rep.MessageType() != dhcpv4.MessageTypeAck || !rep.YourIPAddr.IsUnspecified() || rep.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || len(rep.Router()) != 1 {
		t.Fatalf("inform: %s %v", res.outcome, rep)
	}
}

// TestNoAddressHeldTwice hammers one small pool from many goroutines with full exchanges,
// renewals, releases and declines, and checks that no two MACs ever hold one address.
func TestNoAddressHeldTwice(t *testing.T) {
	e := leasePod(t, "192.0.2.100", "192.0.2.115") // 16 addresses, 64 clients
	h := e.handler(Config{})
	a := peerOf(relayA, 67)
	var mu sync.Mutex
	owner := map[string]string{} // ip -> mac that holds an ACK for it
	var violations []string
	var wg sync.WaitGroup
	for c := range 64 {
		wg.Go(func() {
			mac := fmt.Sprintf("52:54:00:12:%02x:%02x", c/256, c%256)
			for round := range 40 {
				res, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac), a)
				if offer == nil {
					if res.outcome != "no_address" {
						t.Errorf("%s: %s", mac, res.outcome)
					}
					continue
				}
				ip := offer.YourIPAddr.String()
				_, ack := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(ip), withServerID(serverAddr)), a)
				if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
					continue
				}
				mu.Lock()
				if o, ok := owner[ip]; ok && o != mac {
					violations = append(violations, fmt.Sprintf("%s ACKed to %s while %s holds it", ip, mac, o))
				}
				owner[ip] = mac
				mu.Unlock()
				// Give it back (release or decline) so others can take it; forget first.
				mu.Lock()
				delete(owner, ip)
				mu.Unlock()
				mt := dhcpv4.MessageTypeRelease
				opts := []pktOpt{withGiaddr("0.0.0.0"), withCiaddr(ip)}
				if round%10 == 9 {
					mt, opts = dhcpv4.MessageTypeDecline, []pktOpt{withRequested(ip)}
				}
				do(t, h, newPkt(t, mt, mac, opts...), peerOf(ip, 68))
			}
		})
	}
	wg.Wait()
	for _, v := range violations {
		t.Error(v)
	}
	// The table itself: every address at most one MAC, every MAC at most one address.
	seen := map[string]netip.Addr{}
	for ip, mac := range h.leases.pod("pod-a").holders(e.clock.Now()) {
		if other, dup := seen[mac]; dup {
			t.Errorf("%s holds %s and %s", mac, other, ip)
		}
		seen[mac] = ip
	}
}

// TestReloadPodTakesOverLeases: a replica taking a pod over (its table built before the
// previous owner's leases) reloads the pod's leases from the store and then gives no
// address of them to another client, and each old client its own back. Without the
// reload the new client gets an address of the previous owner's.
func TestReloadPodTakesOverLeases(t *testing.T) {
	e := leasePod(t, "192.0.2.100", "192.0.2.104")
	next := e.handler(Config{}) // the next owner, built while the store held nothing
	prev := e.handler(Config{})
	a := peerOf(relayA, 67)
	got := map[string]string{}
	for i := range 4 {
		mac := fmt.Sprintf("52:54:00:ef:00:%02x", i)
		got[mac] = dora(t, e, prev, mac, a).YourIPAddr.String()
	}
	if n := next.leases.reload("pod-a", e.storedLeases(), e.clock.Now()); n != 4 {
		t.Fatalf("reload loaded %d leases, want 4", n)
	}
	fresh := dora(t, e, next, "52:54:00:ef:01:00", a).YourIPAddr.String()
	for mac, ip := range got {
		if ip == fresh {
			t.Fatalf("address %s of %s was given to a new client after the takeover", ip, mac)
		}
		_, offer := do(t, next, newPkt(t, dhcpv4.MessageTypeDiscover, mac), a)
		if offer == nil || offer.YourIPAddr.String() != ip {
			t.Fatalf("%s: offered %v after the takeover, want %s", mac, offer, ip)
		}
	}
}
