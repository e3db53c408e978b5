package ha

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// reply is one DHCP reply a server sent to the relay, as captured at the relay.
type reply struct {
	at     time.Time
	from   netip.Addr // the replica that sent it
	giaddr netip.Addr
	typ    dhcpv4.MessageType
	mac    string
	yiaddr netip.Addr
}

// readReplies parses a pcap file (Ethernet, as tcpdump -w writes it) of server replies.
// A record cut short at the end (tcpdump still writing) is ignored.
func readReplies(path string) ([]reply, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nanos := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nanos = true
	default:
		return nil, fmt.Errorf("%s: not a little-endian pcap file", path)
	}
	var out []reply
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			break
		}
		frame := b[off : off+incl]
		off += incl
		ns := int64(frac) * 1000
		if nanos {
			ns = int64(frac)
		}
		if r, ok := parseFrame(frame); ok {
			r.at = time.Unix(int64(sec), ns)
			out = append(out, r)
		}
	}
	return out, nil
}

func parseFrame(f []byte) (reply, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return reply{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != 17 || len(ip) < ihl+8 {
		return reply{}, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	m, err := dhcpv4.FromBytes(ip[ihl+8:])
	if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
		return reply{}, false
	}
	gi, _ := netip.AddrFromSlice(m.GatewayIPAddr.To4())
	yi, _ := netip.AddrFromSlice(m.YourIPAddr.To4())
	return reply{from: src, giaddr: gi, typ: m.MessageType(), mac: m.ClientHWAddr.String(), yiaddr: yi}, true
}
