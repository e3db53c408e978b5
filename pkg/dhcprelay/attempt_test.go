package dhcprelay

import (
	"context"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestOfferEventStartsAttempt: an ACK with a boot program records dhcp.offer for a
// registered host and for a failed host's retry, not for a host already booting.
func TestOfferEventStartsAttempt(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	ctx := context.Background()
	ack := func() result {
		t.Helper()
		res, _ := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macBIOS, withArch(iana.INTEL_X86PC), withRequested("192.0.2.11"), withServerID(serverAddr)), peerOf(relayA, 67))
		if res.outcome != "ack" {
			t.Fatalf("no ACK: %s", res.outcome)
		}
		return res
	}
	for _, c := range []struct {
		state podmgr.HostState
		event bool
	}{{podmgr.StateRegistered, true}, {podmgr.StateFailed, true}, {podmgr.StateBooting, false}} {
		host, _ := e.mgr.Registry().Host(macBIOS)
		switch c.state {
		case podmgr.StateFailed:
			if ok, err := e.mgr.FailStuck(ctx, host, "test", "test"); !ok || err != nil {
				t.Fatalf("fail host: %v %v", ok, err)
			}
		case podmgr.StateBooting:
			if _, err := e.mgr.RecordHostEvent(ctx, macBIOS, "", "http.script", "", podmgr.HostUpdate{State: podmgr.StateBooting}); err != nil {
				t.Fatal(err)
			}
		}
		if got := ack().event != nil; got != c.event {
			t.Errorf("host %s: event %v, want %v", c.state, got, c.event)
		}
	}
}
