package dhcprelay

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

const (
	macBIOS = "52:54:00:00:00:01"
	macOff  = "52:54:00:00:00:02"
	macDyn  = "52:54:00:00:00:03"
	macB    = "52:54:00:00:00:04"
	macNew  = "52:54:00:00:00:99"
)

func twoPods(t *testing.T, policyA podmgr.UnknownHostPolicy) *testEnv {
	e := newTestEnv(t)
	e.pod(stdPod("pod-a", relayA, policyA))
	e.pod(stdPod("pod-b", relayB, podmgr.PolicyIgnore))
	e.hosts(
		podmgr.Host{MAC: macBIOS, Pod: "pod-a", ProvisioningIP: "192.0.2.11"},
		podmgr.Host{MAC: macOff, Pod: "pod-a", ProvisioningIP: "192.0.2.12"},
		podmgr.Host{MAC: macDyn, Pod: "pod-a"},
	)
	e.hosts(podmgr.Host{MAC: macB, Pod: "pod-b", ProvisioningIP: "192.0.2.11"})
	e.netbootOff(macOff)
	return e
}

func TestBootProgram(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	a := peerOf(relayA, 67)
	tftp := func(f string) string { return "pod-a/" + podmgr.MACPath(macBIOS) + "/" + f }
	script := "http://198.51.100.10:8080/boot/pod-a/52-54-00-00-00-01/script.ipxe"
	tests := []struct {
		name        string
		mac         string
		opts        []pktOpt
		wantIP      string
		wantFile    string // "" means no boot program at all
		wantVendor  string
		wantSiaddr  bool
		wantOpt66   bool
		wantOpt43   bool
		wantRouter  string
		wantServer  string
		wantOutcome string
	}{
		{name: "BIOS PXE", mac: macBIOS, opts: []pktOpt{withArch(iana.INTEL_X86PC)}, wantIP: "192.0.2.11", wantFile: tftp("undionly.kpxe"), wantVendor: "PXEClient", wantSiaddr: true, wantOpt66: true, wantOpt43: true},
		{name: "UEFI x64 PXE", mac: macBIOS, opts: []pktOpt{withArch(iana.EFI_X86_64)}, wantIP: "192.0.2.11", wantFile: tftp("ipxe.efi"), wantVendor: "PXEClient", wantSiaddr: true, wantOpt66: true, wantOpt43: true},
		{name: "UEFI BC PXE", mac: macBIOS, opts: []pktOpt{withArch(iana.EFI_BC)}, wantIP: "192.0.2.11", wantFile: tftp("ipxe.efi"), wantVendor: "PXEClient", wantSiaddr: true, wantOpt66: true, wantOpt43: true},
		{name: "UEFI ARM64 PXE", mac: macBIOS, opts: []pktOpt{withArch(iana.EFI_ARM64)}, wantIP: "192.0.2.11", wantFile: tftp("snp-arm64.efi"), wantVendor: "PXEClient", wantSiaddr: true, wantOpt66: true, wantOpt43: true},
		{name: "iPXE user class", mac: macBIOS, opts: []pktOpt{withArch(iana.INTEL_X86PC), withOpt(77, []byte("iPXE"))}, wantIP: "192.0.2.11", wantFile: script, wantVendor: "", wantSiaddr: true},
		{name: "iPXE option 175", mac: macBIOS, opts: []pktOpt{withOpt(175, []byte{1, 1, 1})}, wantIP: "192.0.2.11", wantFile: script, wantSiaddr: true},
		{name: "UEFI HTTP boot", mac: macBIOS, opts: []pktOpt{withOpt(93, []byte{0, 16}), withOpt(60, []byte("HTTPClient:Arch:00016:UNDI:003001"))}, wantIP: "192.0.2.11",
			wantFile: "http://198.51.100.10:8080/boot/pod-a/52-54-00-00-00-01/ipxe.efi", wantVendor: "HTTPClient", wantSiaddr: true},
		{name: "plain client gets no boot program", mac: macBIOS, wantIP: "192.0.2.11"},
		{name: "netboot off: address only", mac: macOff, opts: []pktOpt{withArch(iana.INTEL_X86PC)}, wantIP: "192.0.2.12"},
		{name: "netboot off iPXE: address only", mac: macOff, opts: []pktOpt{withOpt(77, []byte("iPXE"))}, wantIP: "192.0.2.12"},
		{name: "registered without reservation: dynamic", mac: macDyn, opts: []pktOpt{withArch(iana.EFI_X86_64)}, wantIP: "192.0.2.100",
			wantFile: "pod-a/52-54-00-00-00-03/ipxe.efi", wantVendor: "PXEClient", wantSiaddr: true, wantOpt66: true, wantOpt43: true},
		{name: "unknown MAC ignored", mac: macNew, opts: []pktOpt{withArch(iana.INTEL_X86PC)}, wantOutcome: "unknown_host"},
		{name: "host of another pod is not answered", mac: macB, wantOutcome: "wrong_pod"},
		{name: "too many hops", mac: macBIOS, opts: []pktOpt{func(p *dhcpv4.DHCPv4) { p.HopCount = 17 }}, wantOutcome: "hops"},
		{name: "BOOTREPLY dropped", mac: macBIOS, opts: []pktOpt{func(p *dhcpv4.DHCPv4) { p.OpCode = dhcpv4.OpcodeBootReply }}, wantOutcome: "not_request"},
		{name: "unknown relay", mac: macBIOS, opts: []pktOpt{withGiaddr("203.0.113.1")}, wantOutcome: "no_pod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, tc.mac, tc.opts...), a)
			if tc.wantOutcome != "" {
				if rep != nil || res.outcome != tc.wantOutcome {
					t.Fatalf("outcome %q reply %v, want %q and no reply", res.outcome, rep != nil, tc.wantOutcome)
				}
				return
			}
			if rep == nil {
				t.Fatalf("no reply: outcome %s", res.outcome)
			}
			if rep.MessageType() != dhcpv4.MessageTypeOffer || rep.OpCode != dhcpv4.OpcodeBootReply {
				t.Fatalf("type %s op %s", rep.MessageType(), rep.OpCode)
			}
			if got := rep.YourIPAddr.String(); got != tc.wantIP {
				t.Errorf("yiaddr %s, want %s", got, tc.wantIP)
			}
			if got := rep.ServerIdentifier().String(); got != serverAddr {
				t.Errorf("option 54 %s, want %s", got, serverAddr)
			}
			if got := rep.Router(); len(got) != 1 || got[0].String() != rackGW {
				t.Errorf("router %v", got)
			}
			if got := rep.DNS(); len(got) != 1 || got[0].String() != "192.0.2.53" {
				t.Errorf("dns %v", got)
			}
			if got := rep.IPAddressLeaseTime(0); got != 600*time.Second {
				t.Errorf("lease time %v", got)
			}
			if res.dst.addr != netip.MustParseAddrPort(rackGW+":67") {
				t.Errorf("reply to %s, want giaddr:67", res.dst.addr)
			}
			if rep.BootFileName != tc.wantFile || rep.BootFileNameOption() != tc.wantFile {
				t.Errorf("file %q option 67 %q, want %q", rep.BootFileName, rep.BootFileNameOption(), tc.wantFile)
			}
			if got := rep.ClassIdentifier(); got != tc.wantVendor {
				t.Errorf("option 60 %q, want %q", got, tc.wantVendor)
			}
			if got := !rep.ServerIPAddr.IsUnspecified(); got != tc.wantSiaddr {
				t.Errorf("siaddr %s, want set=%v", rep.ServerIPAddr, tc.wantSiaddr)
			}
			if got := rep.Options.Has(dhcpv4.OptionTFTPServerName); got != tc.wantOpt66 {
				t.Errorf("option 66 present=%v", got)
			}
			if tc.wantOpt66 && rep.TFTPServerName() != serverAddr {
				t.Errorf("option 66 %q", rep.TFTPServerName())
			}
			o43 := rep.Options.Get(dhcpv4.OptionVendorSpecificInformation)
			if tc.wantOpt43 != (o43 != nil) || (o43 != nil && !bytes.Equal(o43, []byte{6, 1, 8, 255})) {
				t.Errorf("option 43 %x", o43)
			}
		})
	}
}

func TestRelayAgentInformation(t *testing.T) {
	e := newTestEnv(t)
	// Pod c is matched by circuit-id alone; pod l by link selection.
	pc := stdPod("pod-c", relayA, podmgr.PolicyLease)
	pc.Match = []podmgr.MatchRule{{CircuitID: "tor1/eth7"}}
	e.pod(pc)
	pl := stdPod("pod-l", relayA, podmgr.PolicyLease)
	pl.Match = []podmgr.MatchRule{{LinkSelection: "203.0.113.1"}}
	pl.Subnets[0] = podmgr.Subnet{CIDR: "203.0.113.0/24", Gateway: "203.0.113.1", RangeStart: "203.0.113.50", RangeEnd: "203.0.113.60"}
	e.pod(pl)
	h := e.handler(Config{})
	raw82 := []byte{1, 9, 't', 'o', 'r', '1', '/', 'e', 't', 'h', '7', 2, 3, 'r', 'i', 'd', 9, 2, 0xde, 0xad}
	cases := []struct {
		name     string
		o82      []byte
		opts     []pktOpt
		peerPort uint16
		wantPod  string
		wantSID  string
		wantDst  string
		wantIP   string
	}{
		{name: "circuit-id", o82: raw82, peerPort: 67, wantPod: "pod-c", wantSID: serverAddr, wantDst: rackGW + ":67", wantIP: "192.0.2.0/24"},
		{name: "server id override", o82: append(append([]byte{}, raw82...), 11, 4, 192, 0, 2, 1), peerPort: 67, wantPod: "pod-c", wantSID: rackGW, wantDst: rackGW + ":67", wantIP: "192.0.2.0/24"},
		{name: "relay source port", o82: append(append([]byte{}, raw82...), 19, 0), peerPort: 40067, wantPod: "pod-c", wantSID: serverAddr, wantDst: rackGW + ":40067", wantIP: "192.0.2.0/24"},
		{name: "link selection picks pod and subnet", o82: []byte{5, 4, 203, 0, 113, 1}, peerPort: 67, wantPod: "pod-l", wantSID: serverAddr, wantDst: rackGW + ":67", wantIP: "203.0.113.0/24"},
		{name: "option 118 picks pod and subnet", opts: []pktOpt{withOpt(118, []byte{203, 0, 113, 1})}, peerPort: 67, wantPod: "pod-l", wantSID: serverAddr, wantDst: rackGW + ":67", wantIP: "203.0.113.0/24"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]pktOpt{}, tc.opts...)
			if tc.o82 != nil {
				opts = append(opts, withOpt(82, tc.o82))
			}
			mac := "52:54:00:aa:00:0" + string(rune('0'+i))
			res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac, opts...), peerOf(relayA, tc.peerPort))
			if rep == nil {
				t.Fatalf("no reply: %s", res.outcome)
			}
			if res.pod != tc.wantPod {
				t.Errorf("pod %s, want %s", res.pod, tc.wantPod)
			}
			if got := rep.ServerIdentifier().String(); got != tc.wantSID {
				t.Errorf("option 54 %s, want %s", got, tc.wantSID)
			}
			if res.dst.addr.String() != tc.wantDst {
				t.Errorf("dst %s, want %s", res.dst.addr, tc.wantDst)
			}
			if ip, _ := netip.AddrFromSlice(rep.YourIPAddr.To4()); !netip.MustParsePrefix(tc.wantIP).Contains(ip) {
				t.Errorf("yiaddr %s, want one in %s", rep.YourIPAddr, tc.wantIP)
			}
			if tc.o82 != nil {
				// Byte for byte: find option 82 in the raw reply.
				if got := rawOption(res.reply, 82); !bytes.Equal(got, tc.o82) {
					t.Errorf("option 82 echoed as %x, want %x", got, tc.o82)
				}
			}
		})
	}
}

// rawOption returns the first instance of an option in an encoded packet.
func rawOption(b []byte, code byte) []byte {
	if len(b) < 240 {
		return nil
	}
	o := b[240:]
	for len(o) >= 2 {
		switch o[0] {
		case 0:
			o = o[1:]
			continue
		case 255:
			return nil
		}
		n := int(o[1])
		if len(o) < 2+n {
			return nil
		}
		if o[0] == code {
			return o[2 : 2+n]
		}
		o = o[2+n:]
	}
	return nil
}

func TestTwoPodsSameCIDR(t *testing.T) {
	e := twoPods(t, podmgr.PolicyLease)
	h := e.handler(Config{})
	// The same giaddr, the same reserved address in both pods; the relay source tells them apart.
	ackA := dora(t, e, h, macBIOS, peerOf(relayA, 67), withArch(iana.INTEL_X86PC))
	ackB := dora(t, e, h, macB, peerOf(relayB, 67), withArch(iana.INTEL_X86PC))
	if ackA.YourIPAddr.String() != "192.0.2.11" || ackB.YourIPAddr.String() != "192.0.2.11" {
		t.Fatalf("addresses %s %s", ackA.YourIPAddr, ackB.YourIPAddr)
	}
	if ackA.BootFileName != "pod-a/52-54-00-00-00-01/undionly.kpxe" || ackB.BootFileName != "pod-b/52-54-00-00-00-04/undionly.kpxe" {
		t.Fatalf("boot files %q %q", ackA.BootFileName, ackB.BootFileName)
	}
	if ackA.DomainName() != "pod-a.example" || ackB.DomainName() != "pod-b.example" {
		t.Fatalf("domains %q %q", ackA.DomainName(), ackB.DomainName())
	}
	// Dynamic pools of the two pods are independent too.
	d1 := dora(t, e, h, "52:54:00:bb:00:01", peerOf(relayA, 67))
	if res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:bb:00:02"), peerOf(relayB, 67)); rep != nil || res.outcome != "unknown_host" {
		t.Fatalf("pod b leased an unknown host: %s", res.outcome)
	}
	if d1.YourIPAddr.String() != "192.0.2.100" {
		t.Fatalf("pod a dynamic %s", d1.YourIPAddr)
	}
}

func TestUnknownHostPolicies(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []podmgr.UnknownHostPolicy{podmgr.PolicyIgnore, podmgr.PolicyLease, podmgr.PolicyDiscover} {
		t.Run(string(policy), func(t *testing.T) {
			e := twoPods(t, policy)
			h := e.handler(Config{})
			res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macNew, withArch(iana.EFI_X86_64)), peerOf(relayA, 67))
			_, known := e.mgr.Registry().Host(macNew)
			switch policy {
			case podmgr.PolicyIgnore:
				if rep != nil || res.outcome != "unknown_host" || known {
					t.Fatalf("ignore: reply=%v outcome=%s recorded=%v", rep != nil, res.outcome, known)
				}
			case podmgr.PolicyLease:
				if rep == nil || rep.YourIPAddr.String() != "192.0.2.100" || rep.BootFileName != "" || rep.Options.Has(dhcpv4.OptionBootfileName) || known {
					t.Fatalf("lease: reply=%v", rep)
				}
			case podmgr.PolicyDiscover:
				if rep == nil || rep.YourIPAddr.String() != "192.0.2.100" || rep.BootFileName != "pod-a/52-54-00-00-00-99/ipxe.efi" {
					t.Fatalf("discover: reply=%v", rep)
				}
				hst, ok := e.mgr.Registry().Host(macNew)
				if !ok || !hst.Discovered || hst.State != podmgr.StateDiscovered || hst.Arch == "" || hst.VendorClass == "" {
					t.Fatalf("discovered host %+v ok=%v", hst, ok)
				}
				evs, err := e.mgr.HostEvents(ctx, macNew)
				if err != nil || len(evs) == 0 || evs[0].Action != "discovered" {
					t.Fatalf("events %v %v", evs, err)
				}
			}
		})
	}
}

func TestDiscoverLimit(t *testing.T) {
	e := newTestEnv(t)
	p := stdPod("pod-a", relayA, podmgr.PolicyDiscover)
	p.DiscoverLimit = 2
	e.pod(p)
	h := e.handler(Config{})
	for i := range 5 {
		mac := "52:54:00:cc:00:0" + string(rune('0'+i))
		_, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac, withArch(iana.INTEL_X86PC)), peerOf(relayA, 67))
		if rep == nil {
			t.Fatalf("no offer for %s", mac)
		}
		if wantBoot := i < 2; (rep.BootFileName != "") != wantBoot {
			t.Errorf("%s: boot file %q, want boot=%v", mac, rep.BootFileName, wantBoot)
		}
	}
	if n := len(e.mgr.Registry().HostsOfPod("pod-a")); n != 2 {
		t.Fatalf("%d discovered hosts, want 2 (the cap)", n)
	}
}

func TestOfferEventOnAck(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	res, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, withArch(iana.INTEL_X86PC)), peerOf(relayA, 67))
	if offer == nil || res.event != nil {
		t.Fatalf("offer %v event %v", offer, res.event)
	}
	res, _ = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macBIOS, withArch(iana.INTEL_X86PC), withRequested("192.0.2.11"), withServerID(serverAddr)), peerOf(relayA, 67))
	if res.event == nil || res.event.mac != macBIOS {
		t.Fatalf("no host event on the ACK with a boot program: %+v", res)
	}
	// Netboot off: no event.
	res, _ = do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, macOff, withArch(iana.INTEL_X86PC), withRequested("192.0.2.12"), withServerID(serverAddr)), peerOf(relayA, 67))
	if res.outcome != "ack" || res.event != nil {
		t.Fatalf("netboot-off ACK: %s event %v", res.outcome, res.event)
	}
}

func TestMaxMessageSize(t *testing.T) {
	e := newTestEnv(t)
	p := stdPod("pod-a", relayA, podmgr.PolicyLease)
	// A long but valid domain: labels of at most 63 bytes.
	label := string(bytes.Repeat([]byte("d"), 63))
	p.Subnets[0].Domain = label + "." + label + "." + label + ".example"
	p.Subnets[0].DNS = []string{"192.0.2.53", "192.0.2.54", "192.0.2.55"}
	e.pod(p)
	h := e.handler(Config{})
	for _, max := range []int{0, 576, 1500} {
		opts := []pktOpt{withOpt(12, bytes.Repeat([]byte("h"), 250))} // a long host name request does not matter
		if max > 0 {
			opts = append(opts, withOpt(57, []byte{byte(max >> 8), byte(max)}))
		}
		// Lots of relay agent information takes room the reply must echo.
		opts = append(opts, withOpt(82, append([]byte{1, 200}, bytes.Repeat([]byte("c"), 200)...)))
		res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:dd:00:01", opts...), peerOf(relayA, 67))
		if rep == nil {
			t.Fatalf("max %d: no reply: %s", max, res.outcome)
		}
		limit := 576
		if max > limit {
			limit = max
		}
		if len(res.reply)+28 > limit {
			t.Errorf("max %d: reply of %d bytes (+28 headers) exceeds %d", max, len(res.reply), limit)
		}
		if max == 1500 && rep.DomainName() == "" {
			t.Errorf("max 1500: domain trimmed without need")
		}
	}
}
