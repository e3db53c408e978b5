package dhcprelay

import (
	"encoding/binary"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// bootpMinLen is the smallest BOOTP message (RFC 951); shorter ones are padded, as some
// relays drop them.
const bootpMinLen = 300

// marshal writes d exactly as dhcpv4.(*DHCPv4).ToBytes does (TestMarshalMatchesLibrary)
// into one buffer of the right size: the library grows a buffer in steps and sorts the
// option codes into a new slice on every call, about a third of a reply's allocations.
func marshal(d *dhcpv4.DHCPv4) []byte {
	var codes [256]uint8 // option codes present, sorted, 82 last (RFC 3046 2.1)
	nc, has82 := 0, false
	size := 236 + 4 + 1 // header, magic cookie, End
	for code, v := range d.Options {
		if code == dhcpv4.OptionPad.Code() || code == dhcpv4.OptionEnd.Code() {
			continue
		}
		if l := len(v); l == 0 {
			size += 2
		} else {
			size += l + 2*((l+254)/255) // RFC 3396: split every 255 bytes
		}
		if code == dhcpv4.OptionRelayAgentInformation.Code() {
			has82 = true
			continue
		}
		// Insertion sort: a reply has a dozen options.
		i := nc
		for i > 0 && codes[i-1] > code {
			codes[i] = codes[i-1]
			i--
		}
		codes[i] = code
		nc++
	}
	if has82 {
		codes[nc] = dhcpv4.OptionRelayAgentInformation.Code()
		nc++
	}
	b := make([]byte, 0, max(size, bootpMinLen))
	b = append(b, byte(d.OpCode), byte(d.HWType), byte(len(d.ClientHWAddr)), d.HopCount)
	b = append(b, d.TransactionID[:]...)
	b = binary.BigEndian.AppendUint16(b, d.NumSeconds)
	b = binary.BigEndian.AppendUint16(b, d.Flags)
	b = appendIP(b, d.ClientIPAddr)
	b = appendIP(b, d.YourIPAddr)
	b = appendIP(b, d.ServerIPAddr)
	b = appendIP(b, d.GatewayIPAddr)
	var chaddr [16]byte
	copy(chaddr[:], d.ClientHWAddr)
	b = append(b, chaddr[:]...)
	var sname [64]byte
	copy(sname[:63], d.ServerHostName)
	b = append(b, sname[:]...)
	var file [128]byte
	copy(file[:127], d.BootFileName)
	b = append(b, file[:]...)
	b = append(b, 99, 130, 83, 99) // magic cookie
	for _, code := range codes[:nc] {
		data := d.Options[code]
		if len(data) == 0 {
			b = append(b, code, 0)
			continue
		}
		for len(data) > 0 {
			n := min(len(data), 255)
			b = append(b, code, byte(n))
			b = append(b, data[:n]...)
			data = data[n:]
		}
	}
	b = append(b, dhcpv4.OptionEnd.Code())
	for len(b) < bootpMinLen {
		b = append(b, dhcpv4.OptionPad.Code())
	}
	return b
}

// appendIP writes an IPv4 address field; nil is 0.0.0.0 (as the library writes it).
func appendIP(b []byte, ip net.IP) []byte {
	if ip == nil {
		return append(b, 0, 0, 0, 0)
	}
	return append(b, ip.To4()[:4]...)
}
