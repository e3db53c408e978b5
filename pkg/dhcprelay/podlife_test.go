package dhcprelay

import (
	"context"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

const (
	oldMAC = "52:54:00:dd:00:01" // held a lease in the pod before it was deleted
	newMAC = "52:54:00:dd:00:02" // asks in the pod created again under the same name
)

// podLifeCases are the two ways a client holds an address: a host's reservation and the
// dynamic range (one address, so a leftover lease would leave nothing to offer).
var podLifeCases = []struct {
	name   string
	pod    func() podmgr.Pod
	hostOf func(mac string) []podmgr.Host // the hosts registered with the pod
	ip     string
}{
	{
		name: "reserved host",
		pod:  func() podmgr.Pod { return stdPod("pod-a", relayA, podmgr.PolicyIgnore) },
		hostOf: func(mac string) []podmgr.Host {
			return []podmgr.Host{{MAC: mac, Pod: "pod-a", ProvisioningIP: "192.0.2.20"}}
		},
		ip: "192.0.2.20",
	},
	{
		name: "dynamic range",
		pod: func() podmgr.Pod {
			p := stdPod("pod-a", relayA, podmgr.PolicyLease)
			p.Subnets[0].RangeStart, p.Subnets[0].RangeEnd = "192.0.2.100", "192.0.2.100"
			return p
		},
		hostOf: func(string) []podmgr.Host { return nil },
		ip:     "192.0.2.100",
	},
}

// A pod deleted and created again under its name (as `podboot pod delete --force` and
// `pod apply` do through the API) starts without the old pod's leases, while serving.
func TestDeletedPodLeasesAreDropped(t *testing.T) {
	for _, tc := range podLifeCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnv(t)
			e.pod(tc.pod())
			if hs := tc.hostOf(oldMAC); hs != nil {
				e.hosts(hs...)
			}
			h := e.handler(Config{})
			a := peerOf(relayA, 67)
			if got := dora(t, e, h, oldMAC, a).YourIPAddr.String(); got != tc.ip {
				t.Fatalf("first client got %s, want %s", got, tc.ip)
			}

			if err := e.mgr.DeletePod(ctx, admin, "pod-a", true); err != nil {
				t.Fatal(err)
			}
			if ip, ok := h.leases.lookup("pod-a", oldMAC, e.clock.Now()); ok {
				t.Fatalf("deleted pod: %s still holds %s", oldMAC, ip)
			}
			e.pod(tc.pod())
			if hs := tc.hostOf(newMAC); hs != nil {
				e.hosts(hs...)
			}
			if ip, ok := h.leases.lookup("pod-a", oldMAC, e.clock.Now()); ok {
				t.Fatalf("pod created again: %s inherited the old lease of %s", ip, oldMAC)
			}

			if got := dora(t, e, h, newMAC, a).YourIPAddr.String(); got != tc.ip {
				t.Fatalf("client of the new pod got %s, want the old pod's address %s", got, tc.ip)
			}
			// The old MAC holds nothing: its renewal is not ACKed.
			res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, oldMAC, withCiaddr(tc.ip)), a)
			if rep != nil && rep.MessageType() == dhcpv4.MessageTypeAck {
				t.Fatalf("old MAC's renewal of %s was ACKed (outcome %s)", tc.ip, res.outcome)
			}

			// And after a restart, the new client keeps the address.
			e.reopen()
			h = e.handler(Config{})
			if ip, ok := h.leases.lookup("pod-a", newMAC, e.clock.Now()); !ok || ip.String() != tc.ip {
				t.Fatalf("after restart: %s holds %v (%v), want %s", newMAC, ip, ok, tc.ip)
			}
			if ip, ok := h.leases.lookup("pod-a", oldMAC, e.clock.Now()); ok {
				t.Fatalf("after restart: old MAC holds %s", ip)
			}
		})
	}
}

// A lease answered just before its pod was deleted is not written after the deletion
// (it would come back with a pod created again under the name), and its ACK is withheld.
func TestLeaseOfDeletedPodIsNotWritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(e *testEnv) // what happens between the packet and the commit
		written bool
	}{
		{"pod unchanged", func(*testEnv) {}, true},
		{"pod updated", func(e *testEnv) {
			p := stdPod("pod-a", relayA, podmgr.PolicyLease)
			p.Subnets[0].Domain = "changed.example"
			e.pod(p)
		}, true},
		{"pod deleted", func(e *testEnv) { e.deletePod("pod-a") }, false},
		{"pod deleted and created again", func(e *testEnv) {
			e.deletePod("pod-a")
			e.pod(stdPod("pod-a", relayA, podmgr.PolicyLease))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.pod(stdPod("pod-a", relayA, podmgr.PolicyLease))
			h := e.handler(Config{})
			a := peerOf(relayA, 67)
			_, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, oldMAC), a)
			if offer == nil {
				t.Fatal("no offer")
			}
			res, ack := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, oldMAC, withRequested(offer.YourIPAddr.String()), withServerID(serverAddr)), a)
			if ack == nil || res.persist == nil {
				t.Fatalf("no ACK to commit: outcome %s", res.outcome)
			}
			tc.between(e)
			if got := e.persist(res); got != tc.written {
				t.Fatalf("lease written: %v, want %v", got, tc.written)
			}
			if n := len(e.storedLeases()); n != map[bool]int{true: 1, false: 0}[tc.written] {
				t.Fatalf("%d leases in the store, want written=%v", n, tc.written)
			}
		})
	}
}

func (e *testEnv) deletePod(name string) {
	e.t.Helper()
	if err := e.mgr.DeletePod(context.Background(), admin, name, true); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) storedLeases() []podmgr.Lease {
	e.t.Helper()
	var leases []podmgr.Lease
	if err := e.store.View(context.Background(), func(tx podmgr.ReadTx) error {
		var err error
		leases, err = tx.Leases()
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return leases
}
