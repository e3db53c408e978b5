package dhcprelay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// maxHops is the relay hop count above which a request is dropped (RFC 1542 allows 16).
const maxHops = 16

// errDrop marks a packet that is dropped without a reply; the reason is the metric label.
type dropError struct{ reason string }

func (e *dropError) Error() string { return "dropped: " + e.reason }

func drop(reason string) error { return &dropError{reason: reason} }

func dropReason(err error) string {
	var d *dropError
	if errors.As(err, &d) {
		return d.reason
	}
	return "malformed"
}

// request is a parsed, sanity-checked BOOTREQUEST with everything the packet path needs.
type request struct {
	pkt     *dhcpv4.DHCPv4
	msgType dhcpv4.MessageType
	mac     string // normalised, lower case, colon separated
	peer    netip.AddrPort
	giaddr  netip.Addr // invalid when 0.0.0.0
	ciaddr  netip.Addr // invalid when 0.0.0.0
	// requested is option 50, serverID option 54; invalid when absent.
	requested netip.Addr
	serverID  netip.Addr
	// maxSize is the largest reply the client accepts (option 57, at least 576).
	maxSize int
	relay   relayInfo
	// subnetSel is option 118 (RFC 3011).
	subnetSel netip.Addr
	client    clientInfo
	// toSource: the pod replies to the relay's UDP source, not to giaddr (replyDest).
	toSource bool
}

// clientInfo is what the firmware says about itself: it picks the boot program.
type clientInfo struct {
	vendorClass string // option 60
	arch        iana.Arch
	hasArch     bool
	ipxe        bool   // user class "iPXE" or option 175
	guid        string // option 97, hex
}

// direct reports whether the client sent the packet itself, naming its address: no
// relay (giaddr 0) and ciaddr set (renew, rebind, release, decline, inform).
func (r *request) direct() bool { return !r.giaddr.IsValid() && r.ciaddr.IsValid() }

// parseRequest decodes raw and checks what every answer relies on.
func parseRequest(raw []byte, peer netip.AddrPort) (*request, error) {
	pkt, err := dhcpv4.FromBytes(raw)
	if err != nil {
		return nil, drop("malformed")
	}
	if pkt.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, drop("not_request")
	}
	if pkt.HopCount > maxHops {
		return nil, drop("hops")
	}
	if pkt.HWType != iana.HWTypeEthernet || len(pkt.ClientHWAddr) != 6 {
		return nil, drop("not_ethernet")
	}
	r := &request{pkt: pkt, peer: peer, mac: pkt.ClientHWAddr.String()}
	mt := pkt.Options.Get(dhcpv4.OptionDHCPMessageType)
	if len(mt) != 1 {
		return nil, drop("no_message_type") // BOOTP is not served
	}
	r.msgType = dhcpv4.MessageType(mt[0])
	r.giaddr = addr4(pkt.GatewayIPAddr)
	r.ciaddr = addr4(pkt.ClientIPAddr)
	r.requested = optAddr(pkt.Options, dhcpv4.OptionRequestedIPAddress)
	r.serverID = optAddr(pkt.Options, dhcpv4.OptionServerIdentifier)
	r.subnetSel = optAddr(pkt.Options, dhcpv4.OptionSubnetSelection)
	r.maxSize = dhcpv4.MaxMessageSize
	if v := pkt.Options.Get(dhcpv4.OptionMaximumDHCPMessageSize); len(v) == 2 {
		if n := int(v[0])<<8 | int(v[1]); n > r.maxSize {
			r.maxSize = n
		}
	}
	if raw82 := pkt.Options.Get(dhcpv4.OptionRelayAgentInformation); raw82 != nil {
		if r.relay, err = parseRelayInfo(raw82); err != nil {
			return nil, drop("malformed_option82")
		}
	}
	r.client = parseClientInfo(pkt)
	return r, nil
}

func parseClientInfo(pkt *dhcpv4.DHCPv4) clientInfo {
	var ci clientInfo
	ci.vendorClass = string(pkt.Options.Get(dhcpv4.OptionClassIdentifier))
	if v := pkt.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) >= 2 {
		ci.arch, ci.hasArch = iana.Arch(uint16(v[0])<<8|uint16(v[1])), true
	}
	if pkt.Options.Has(dhcpv4.OptionEtherboot) {
		ci.ipxe = true
	}
	if uc := pkt.Options.Get(dhcpv4.OptionUserClassInformation); len(uc) > 0 {
		// iPXE sends the raw string "iPXE"; RFC 3004 clients send length-prefixed strings.
		if string(uc) == "iPXE" {
			ci.ipxe = true
		} else {
			for _, s := range pkt.UserClass() {
				if s == "iPXE" {
					ci.ipxe = true
				}
			}
		}
	}
	if g := pkt.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(g) == 17 && g[0] == 0 {
		ci.guid = fmt.Sprintf("%x", g[1:])
	}
	return ci
}

// pxe reports whether the client asks for a boot program at all.
func (ci clientInfo) pxe() bool {
	return ci.ipxe || ci.hasArch || strings.HasPrefix(ci.vendorClass, "PXEClient") || strings.HasPrefix(ci.vendorClass, "HTTPClient")
}

func (ci clientInfo) archName() string {
	if !ci.hasArch {
		return ""
	}
	return ci.arch.String()
}

// addr4 converts a header address; 0.0.0.0 and garbage become the invalid Addr.
func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

func optAddr(o dhcpv4.Options, code dhcpv4.OptionCode) netip.Addr {
	v := o.Get(code)
	if len(v) != 4 {
		return netip.Addr{}
	}
	a := netip.AddrFrom4([4]byte(v))
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
