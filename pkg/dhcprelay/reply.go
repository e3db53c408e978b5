package dhcprelay

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

// answer is what the handler decided to tell the client.
type answer struct {
	msgType  dhcpv4.MessageType
	yiaddr   netip.Addr         // invalid for NAK and INFORM
	subnet   *podmgr.SubnetInfo // network options; nil for NAK
	leaseDur time.Duration      // 0: no lease time (INFORM, NAK)
	serverID netip.Addr
	boot     bootProgram
}

// errTooBig says a reply does not fit the client's maximum message size even trimmed.
var errTooBig = errors.New("reply exceeds the client's maximum message size")

// trimOrder are the options dropped, in this order, when a reply is too big for option 57.
var trimOrder = []dhcpv4.OptionCode{dhcpv4.OptionDomainName, dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionRebindingTimeValue, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionVendorSpecificInformation}

// newReply is the reply skeleton for req: what dhcpv4.NewReplyFromRequest builds (op,
// htype, xid, chaddr, flags, giaddr, options 82 and 61 copied byte for byte), without its
// random transaction ID, which costs a getrandom call, a timer and a context per packet
// only to be overwritten by the request's.
func newReply(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	resp := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		ClientHWAddr:  req.ClientHWAddr,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr,
		Options:       make(dhcpv4.Options, 16),
	}
	for _, code := range [...]dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := req.Options.Get(code); v != nil {
			resp.Options.Update(dhcpv4.OptGeneric(code, v))
		}
	}
	return resp
}

// buildReply encodes the reply to r. Option 82 is copied as the raw bytes of the request
// (newReply copies the option's value; it is never re-marshalled from a parse).
func buildReply(r *request, a answer) ([]byte, error) {
	resp := newReply(r.pkt)
	resp.HopCount = 0
	resp.ClientIPAddr = net.IPv4zero
	if a.msgType == dhcpv4.MessageTypeAck && r.ciaddr.IsValid() && r.msgType != dhcpv4.MessageTypeDiscover {
		resp.ClientIPAddr = r.ciaddr.AsSlice()
	}
	// The fixed-size option values share one arena instead of one allocation each
	// (what dhcpv4's Opt* constructors do); the bytes are the same.
	o := optArena{opts: resp.Options, b: make([]byte, 0, 64)}
	o.put(dhcpv4.OptionDHCPMessageType, byte(a.msgType))
	o.addr(dhcpv4.OptionServerIdentifier, a.serverID)
	if a.msgType == dhcpv4.MessageTypeNak {
		if r.giaddr.IsValid() {
			resp.SetBroadcast() // RFC 2131 4.3.2: the relay broadcasts a NAK
		}
		return encode(resp, r.maxSize)
	}
	if a.yiaddr.IsValid() {
		resp.YourIPAddr = a.yiaddr.AsSlice()
	}
	if s := a.subnet; s != nil {
		m := maskOf(s.Prefix)
		o.put(dhcpv4.OptionSubnetMask, m[:]...)
		if s.Router.IsValid() {
			o.addr(dhcpv4.OptionRouter, s.Router)
		}
		if len(s.DNS) > 0 {
			ips := make([]net.IP, len(s.DNS))
			for i, d := range s.DNS {
				ips[i] = d.AsSlice()
			}
			resp.UpdateOption(dhcpv4.OptDNS(ips...))
		}
		if s.Domain != "" {
			resp.UpdateOption(dhcpv4.OptDomainName(s.Domain))
		}
	}
	if a.leaseDur > 0 {
		o.seconds(dhcpv4.OptionIPAddressLeaseTime, a.leaseDur)
		o.seconds(dhcpv4.OptionRenewTimeValue, a.leaseDur/2)
		o.seconds(dhcpv4.OptionRebindingTimeValue, a.leaseDur-a.leaseDur/8) // 7/8, without overflow
	}
	setBoot(resp, a.boot)
	return encode(resp, r.maxSize)
}

// optArena sets small option values carved from one buffer.
type optArena struct {
	opts dhcpv4.Options
	b    []byte
}

func (o *optArena) put(code dhcpv4.OptionCode, v ...byte) {
	start := len(o.b)
	o.b = append(o.b, v...)
	o.opts[code.Code()] = o.b[start:len(o.b):len(o.b)]
}

// addr is an IPv4 address option; an invalid address (a pod without a server address)
// is written as 0.0.0.0, where dhcpv4's constructor wrote an empty, malformed option.
func (o *optArena) addr(code dhcpv4.OptionCode, a netip.Addr) {
	var v [4]byte
	if a.Is4() {
		v = a.As4()
	}
	o.put(code, v[:]...)
}

// seconds is a 32-bit seconds option, as dhcpv4.Duration encodes it; a longer time is
// capped at the longest finite one (never wrapped, never 0xffffffff "infinite").
func (o *optArena) seconds(code dhcpv4.OptionCode, d time.Duration) {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(min(max(d/time.Second, 0), maxLeaseSeconds)))
	o.put(code, v[:]...)
}

// setBoot writes the boot program; bootNone writes nothing at all (the netboot gate).
func setBoot(resp *dhcpv4.DHCPv4, b bootProgram) {
	if b.kind == bootNone {
		return
	}
	resp.ServerIPAddr = b.server.AsSlice()
	if len(b.file) <= 127 {
		resp.BootFileName = b.file
	}
	resp.UpdateOption(dhcpv4.OptBootFileName(b.file))
	if b.kind == bootTFTP {
		resp.UpdateOption(dhcpv4.OptTFTPServerName(b.server.String()))
	}
	if b.vendorClass != "" {
		resp.UpdateOption(dhcpv4.OptClassIdentifier(b.vendorClass))
	}
	if b.vendorClass == "PXEClient" {
		// PXE_DISCOVERY_CONTROL (sub-option 6) = 8: boot from the file name, skip the
		// boot server discovery.
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	}
}

// encode marshals resp, trimming optional options until it fits maxSize (option 57).
func encode(resp *dhcpv4.DHCPv4, maxSize int) ([]byte, error) {
	// The limit is on the IP datagram: 20 bytes of IP and 8 of UDP header come off.
	limit := maxSize - 28
	b := marshal(resp)
	for _, code := range trimOrder {
		if len(b) <= limit {
			return b, nil
		}
		if resp.Options.Has(code) {
			resp.Options.Del(code)
			b = marshal(resp)
		}
	}
	// Then what the fixed header already carries (as Kea and dnsmasq do): option 67 when
	// the file field holds the name, option 66 when siaddr is the server it names.
	for _, code := range [...]dhcpv4.OptionCode{dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName} {
		if len(b) <= limit {
			return b, nil
		}
		if inHeader(resp, code) {
			resp.Options.Del(code)
			b = marshal(resp)
		}
	}
	if len(b) > limit {
		return nil, errTooBig
	}
	return b, nil
}

// inHeader reports whether option code (66 or 67) repeats what the fixed header says.
func inHeader(resp *dhcpv4.DHCPv4, code dhcpv4.OptionCode) bool {
	v := resp.Options.Get(code)
	if v == nil {
		return false
	}
	switch code {
	case dhcpv4.OptionBootfileName:
		return resp.BootFileName != "" && string(v) == resp.BootFileName
	case dhcpv4.OptionTFTPServerName:
		siaddr := addr4(resp.ServerIPAddr)
		return siaddr.IsValid() && string(v) == siaddr.String() || resp.ServerHostName != "" && string(v) == resp.ServerHostName
	}
	return false
}

// destination is where a reply goes and how.
type destination struct {
	addr netip.AddrPort
	// broadcast: send on the local interface to 255.255.255.255:68.
	broadcast bool
}

// replyDest routes a reply: to the relay (giaddr:67, or giaddr and the relay's source
// port with RFC 8357 sub-option 19; or, for a pod with replyTo relaySource, the relayed
// packet's UDP source address and port), else to the client's address, else broadcast
// on the local interface.
func replyDest(r *request, local bool) (destination, bool) {
	switch {
	case r.giaddr.IsValid() && r.toSource && r.peer.Addr().Unmap().Is4() && r.peer.Port() != 0:
		return destination{addr: netip.AddrPortFrom(r.peer.Addr().Unmap(), r.peer.Port())}, true
	case r.giaddr.IsValid():
		port := uint16(67)
		if r.relay.sourcePort && r.peer.Port() != 0 {
			port = r.peer.Port()
		}
		return destination{addr: netip.AddrPortFrom(r.giaddr, port)}, true
	case r.ciaddr.IsValid():
		return destination{addr: netip.AddrPortFrom(r.ciaddr, 68)}, true
	case local:
		return destination{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68), broadcast: true}, true
	}
	return destination{}, false
}
