package dhcprelay

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// fuzzSeeds are valid requests and deliberately broken ones: truncated headers and
// options, option lengths past the end, oversized and repeated options, bad option 82.
func fuzzSeeds(t testing.TB) map[string][]byte {
	disc := newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, withArch(iana.EFI_X86_64), withOpt(82, []byte{1, 3, 'a', 'b', 'c', 5, 4, 192, 0, 2, 1, 11, 4, 192, 0, 2, 1, 19, 0})).ToBytes()
	req := newPkt(t, dhcpv4.MessageTypeRequest, macDyn, withRequested("192.0.2.100"), withServerID(serverAddr), withOpt(77, []byte("iPXE"))).ToBytes()
	renew := newPkt(t, dhcpv4.MessageTypeRequest, macDyn, withGiaddr("0.0.0.0"), withCiaddr("192.0.2.100")).ToBytes()
	seeds := map[string][]byte{
		"discover-pxe":      disc,
		"request-ipxe":      req,
		"renew-unicast":     renew,
		"decline":           newPkt(t, dhcpv4.MessageTypeDecline, macDyn, withRequested("192.0.2.100")).ToBytes(),
		"release":           newPkt(t, dhcpv4.MessageTypeRelease, macDyn, withCiaddr("192.0.2.100")).ToBytes(),
		"inform":            newPkt(t, dhcpv4.MessageTypeInform, macDyn, withCiaddr("192.0.2.7")).ToBytes(),
		"discover-unknown":  newPkt(t, dhcpv4.MessageTypeDiscover, macNew, withOpt(97, append([]byte{0}, bytes.Repeat([]byte{7}, 16)...)), withOpt(60, []byte("HTTPClient")), withOpt(93, []byte{0, 16})).ToBytes(),
		"empty":             {},
		"header-only":       disc[:236],
		"no-cookie":         disc[:239],
		"truncated-options": disc[:250],
		"truncated-last":    disc[:len(disc)-1],
	}
	// An option whose length runs past the end of the packet.
	past := append([]byte{}, disc[:240]...)
	past = append(past, 53, 1, 1, 60, 200, 'P', 'X', 'E')
	seeds["option-length-past-end"] = past
	// Oversized: option 82 of 255 bytes with sub-options that overrun it, repeated options
	// (concatenated by RFC 3396), a max message size of 0xffff and one of 0.
	over := newPkt(t, dhcpv4.MessageTypeDiscover, macNew).ToBytes()
	over = over[:240]
	over = append(over, 53, 1, 1)
	over = append(over, 82, 255, 1, 254)
	over = append(over, bytes.Repeat([]byte{'x'}, 253)...)
	over = append(over, 57, 2, 0xff, 0xff, 60, 255)
	over = append(over, bytes.Repeat([]byte{'P'}, 255)...)
	over = append(over, 60, 255)
	over = append(over, bytes.Repeat([]byte{'Q'}, 255)...)
	over = append(over, 255)
	seeds["oversized-options"] = over
	small := newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, withOpt(57, []byte{0, 0}), withOpt(82, bytes.Repeat([]byte{1, 0}, 120))).ToBytes()
	seeds["max-size-zero"] = small
	hops := newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS).ToBytes()
	hops[3] = 200
	seeds["hops-200"] = hops
	hlen := newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS).ToBytes()
	hlen[2] = 255
	seeds["hlen-255"] = hlen
	// Packets a client sends itself (no giaddr): the unicast rules (issue 10).
	direct := func(mt dhcpv4.MessageType, mac, ciaddr string, opts ...pktOpt) []byte {
		return newPkt(t, mt, mac, append([]pktOpt{withGiaddr("0.0.0.0"), withCiaddr(ciaddr)}, opts...)...).ToBytes()
	}
	seeds["unicast-request-moves"] = direct(dhcpv4.MessageTypeRequest, macDyn, "192.0.2.100", withRequested("192.0.2.120"))
	seeds["unicast-request-other-mac"] = direct(dhcpv4.MessageTypeRequest, macBIOS, "192.0.2.100")
	seeds["unicast-release-other"] = direct(dhcpv4.MessageTypeRelease, macDyn, "192.0.2.11")
	seeds["unicast-decline-other"] = direct(dhcpv4.MessageTypeDecline, macDyn, "192.0.2.100", withRequested("192.0.2.101"))
	seeds["unicast-inform"] = direct(dhcpv4.MessageTypeInform, macDyn, "192.0.2.100")
	seeds["unicast-forged-82"] = direct(dhcpv4.MessageTypeRequest, macNew, "192.0.2.130", withOpt(82, []byte{1, 3, 'a', 'b', 'c', 5, 4, 192, 0, 2, 0}))
	seeds["request-gateway"] = newPkt(t, dhcpv4.MessageTypeRequest, macNew, withRequested(rackGW), withServerID(serverAddr)).ToBytes()
	seeds["request-broadcast"] = newPkt(t, dhcpv4.MessageTypeRequest, macNew, withRequested("192.0.2.255"), withServerID(serverAddr)).ToBytes()
	seeds["pxe-576-big-82"] = newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, withArch(iana.INTEL_X86PC), withOpt(57, []byte{2, 64}),
		withOpt(82, append([]byte{1, 220}, bytes.Repeat([]byte("c"), 220)...))).ToBytes()
	return seeds
}

// TestFuzzCorpus checks that testdata/fuzz/FuzzHandle holds every seed the fuzz target
// is meant to start from (truncated and oversized options among them);
// DHCP_WRITE_CORPUS=1 regenerates them.
func TestFuzzCorpus(t *testing.T) {
	write := os.Getenv("DHCP_WRITE_CORPUS") != ""
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range fuzzSeeds(t) {
		for _, relayB := range []bool{false, true} {
			n := name
			if relayB {
				n += "-relay-b"
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbool(%v)\n", b, relayB)
			path := filepath.Join(dir, n)
			if write {
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// The packets carry random transaction IDs, so only the presence and the
			// format of each seed can be checked.
			if got, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(got), "go test fuzz v1\n[]byte(") {
				t.Errorf("seed %s is missing or malformed: regenerate with DHCP_WRITE_CORPUS=1 go test -run TestFuzzCorpus", path)
			}
		}
	}
}

// FuzzHandle runs arbitrary bytes through the whole packet path (parse, resolve, lease,
// reply) of a realistic registry: it must never panic, and every reply must be a
// well-formed BOOTREPLY that fits the client's size limit and goes somewhere sensible.
func FuzzHandle(f *testing.F) {
	e := newTestEnv(f)
	a := stdPod("pod-a", relayA, podmgr.PolicyDiscover)
	a.DiscoverLimit = 4
	e.pod(a)
	e.pod(stdPod("pod-b", relayB, podmgr.PolicyLease))
	e.hosts(
		podmgr.Host{MAC: macBIOS, Pod: "pod-a", ProvisioningIP: "192.0.2.11"},
		podmgr.Host{MAC: macOff, Pod: "pod-a", ProvisioningIP: "192.0.2.12"},
		podmgr.Host{MAC: macDyn, Pod: "pod-a"},
	)
	e.netbootOff(macOff)
	h := e.handler(Config{})
	for _, b := range fuzzSeeds(f) {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, fromB bool) {
		peer := peerOf(relayA, 67)
		switch {
		case fromB:
			peer = peerOf(relayB, 40000)
		case len(data) >= 28 && [4]byte(data[24:28]) == [4]byte{}:
			// Not relayed: the client sends it itself, from its ciaddr.
			peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte(data[12:16])), 68)
		}
		res := h.handle(context.Background(), data, peer, local{})
		if res.reply == nil {
			return
		}
		rep, err := dhcpv4.FromBytes(res.reply)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if rep.OpCode != dhcpv4.OpcodeBootReply {
			t.Fatalf("reply op %v", rep.OpCode)
		}
		if len(res.reply)+28 > 65535 || !res.dst.addr.IsValid() || res.dst.addr.Port() == 0 {
			t.Fatalf("reply of %d bytes to %v", len(res.reply), res.dst.addr)
		}
		req, err := parseRequest(data, peer)
		if err != nil {
			t.Fatalf("a reply to a request that does not parse: %v", err)
		}
		if len(res.reply)+28 > req.maxSize {
			t.Fatalf("reply of %d bytes over the client's limit %d", len(res.reply), req.maxSize)
		}
		if !bytes.Equal(rep.Options.Get(dhcpv4.OptionRelayAgentInformation), req.pkt.Options.Get(dhcpv4.OptionRelayAgentInformation)) {
			t.Fatalf("option 82 not echoed unchanged")
		}
		if res.dst.addr.Addr() == netip.IPv4Unspecified() {
			t.Fatalf("reply to 0.0.0.0")
		}
		if req.direct() && res.dst.addr.Addr() != peer.Addr() {
			t.Fatalf("a packet from %v answered to %v", peer, res.dst.addr)
		}
		switch yi := addr4(rep.YourIPAddr); yi {
		case netip.MustParseAddr("192.0.2.0"), netip.MustParseAddr("192.0.2.255"), netip.MustParseAddr(rackGW):
			t.Fatalf("%s offered or ACKed", yi)
		}
	})
}
