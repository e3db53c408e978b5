package dhcprelay

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestMarshalMatchesLibrary: marshal writes the very bytes dhcpv4's ToBytes writes, for
// every fuzz seed that parses, every reply the handler builds for them, and replies with
// long (split) options, option 82 and empty options.
func TestMarshalMatchesLibrary(t *testing.T) {
	check := func(name string, d *dhcpv4.DHCPv4) {
		t.Helper()
		if got, want := marshal(d), d.ToBytes(); !bytes.Equal(got, want) {
			t.Errorf("%s: marshal differs from ToBytes\n got %x\nwant %x", name, got, want)
		}
	}
	e := newTestEnv(t)
	e.pod(stdPod("pod-a", relayA, podmgr.PolicyDiscover))
	e.hosts(
		podmgr.Host{MAC: macBIOS, Pod: "pod-a", ProvisioningIP: "192.0.2.11"},
		podmgr.Host{MAC: macDyn, Pod: "pod-a"},
	)
	h := e.handler(Config{})
	replies := 0
	for name, raw := range fuzzSeeds(t) {
		if p, err := dhcpv4.FromBytes(raw); err == nil {
			check(name, p)
		}
		res := h.handle(t.Context(), raw, netip.MustParseAddrPort(relayA+":67"), local{})
		if res.reply != nil {
			p, err := dhcpv4.FromBytes(res.reply)
			if err != nil {
				t.Fatalf("%s: reply does not parse: %v", name, err)
			}
			check(name+" reply", p)
			replies++
		}
	}
	if replies < 3 {
		t.Fatalf("only %d of the seeds got a reply: the test does not check replies", replies)
	}
	p := newPkt(t, dhcpv4.MessageTypeOffer, "52:54:00:00:00:01", withOpt(82, []byte{1, 2, 'a', 'b'}),
		withOpt(67, bytes.Repeat([]byte{'f'}, 600)), withOpt(12, nil), withOpt(3, []byte{192, 0, 2, 1}))
	p.ServerHostName = string(bytes.Repeat([]byte{'s'}, 80))
	p.BootFileName = string(bytes.Repeat([]byte{'b'}, 200))
	p.YourIPAddr = nil
	check("long options", p)
}
