// Package lldp parses the LLDPDU a switch sends out of each port (IEEE 802.1AB), so
// the stage1 agent can say which switch port each of a server's NICs is cabled to.
// Operators cable racks by port ("Ethernet1/7 is node 7"); the neighbour in the
// inventory lets them check the cabling and lets accept rules name hosts by port.
//
// Only what the inventory needs is read: chassis ID, port ID, port description and
// system name. The input comes from the network, so every length is checked and the
// strings are cleaned of control characters.
package lldp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// EtherType is LLDP's Ethernet type.
const EtherType = 0x88cc

// Multicast is the nearest-bridge group address switches send LLDPDUs to.
var Multicast = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// TLV types read (802.1AB-2016 table 8-1).
const (
	tlvEnd      = 0
	tlvChassis  = 1
	tlvPort     = 2
	tlvTTL      = 3
	tlvPortDesc = 4
	tlvSysName  = 5
)

// Neighbour is what one LLDPDU says about the sender.
type Neighbour struct {
	// ChassisID identifies the switch; a MAC or an address is formatted as such.
	ChassisID string
	// PortID names the switch port (often its interface name, e.g. Ethernet1/7).
	PortID          string
	PortDescription string
	SystemName      string
}

// ErrMalformed says the frame is not an LLDPDU this parser accepts.
var ErrMalformed = errors.New("malformed LLDPDU")

// Parse reads an LLDPDU (the payload after the Ethernet header). The chassis ID,
// port ID and TTL TLVs must come first, in that order, as the standard requires.
func Parse(b []byte) (Neighbour, error) {
	var n Neighbour
	for i := 0; len(b) > 0; i++ {
		if len(b) < 2 {
			return n, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
		}
		typ, length := int(b[0]>>1), int(b[0]&1)<<8|int(b[1])
		if len(b) < 2+length {
			return n, fmt.Errorf("%w: TLV %d of %d bytes, %d left", ErrMalformed, typ, length, len(b)-2)
		}
		v := b[2 : 2+length]
		b = b[2+length:]
		if want := []int{tlvChassis, tlvPort, tlvTTL}; i < len(want) && typ != want[i] {
			return n, fmt.Errorf("%w: TLV %d is type %d, want %d", ErrMalformed, i+1, typ, want[i])
		}
		var err error
		switch typ {
		case tlvEnd:
			return n, nil
		case tlvChassis:
			n.ChassisID, err = chassisID(v)
		case tlvPort:
			n.PortID, err = portID(v)
		case tlvTTL:
			if length < 2 {
				err = fmt.Errorf("%w: TTL of %d bytes", ErrMalformed, length)
			}
		case tlvPortDesc:
			n.PortDescription = text(v)
		case tlvSysName:
			n.SystemName = text(v)
		}
		if err != nil {
			return n, err
		}
	}
	if n.PortID == "" {
		return n, fmt.Errorf("%w: no port ID", ErrMalformed)
	}
	return n, nil // no End TLV: accepted, as lldpd and switches are lenient too
}

// Chassis ID subtypes (802.1AB table 8-2).
const (
	chassisMAC  = 4
	chassisAddr = 5
)

func chassisID(v []byte) (string, error) {
	if len(v) < 2 {
		return "", fmt.Errorf("%w: chassis ID of %d bytes", ErrMalformed, len(v))
	}
	switch v[0] {
	case chassisMAC:
		return mac(v[1:]), nil
	case chassisAddr:
		return address(v[1:]), nil
	}
	return text(v[1:]), nil
}

// Port ID subtypes (802.1AB table 8-3).
const (
	portMAC  = 3
	portAddr = 4
)

func portID(v []byte) (string, error) {
	if len(v) < 2 {
		return "", fmt.Errorf("%w: port ID of %d bytes", ErrMalformed, len(v))
	}
	switch v[0] {
	case portMAC:
		return mac(v[1:]), nil
	case portAddr:
		return address(v[1:]), nil
	}
	return text(v[1:]), nil
}

func mac(v []byte) string {
	if len(v) == 6 {
		return net.HardwareAddr(v).String()
	}
	return text(v)
}

// address is an IANA address family number (1 IPv4, 2 IPv6) and the address.
func address(v []byte) string {
	if len(v) >= 1 {
		if a, ok := netip.AddrFromSlice(v[1:]); ok && (v[0] == 1 && a.Is4() || v[0] == 2 && a.Is6()) {
			return a.String()
		}
	}
	return fmt.Sprintf("%x", v)
}

// text keeps printable characters; anything else becomes '?', so a value is one line.
func text(v []byte) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, string(v)))
}
