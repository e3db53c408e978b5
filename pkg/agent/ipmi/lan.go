// Package ipmi reads the BMC's LAN configuration through the host's own IPMI system
// interface (/dev/ipmi0, the kernel's ipmi_si and ipmi_devintf), so the inventory can
// say at which address the server's BMC answers: what an operator needs to register it
// (podboot host bmc set) without walking to the rack.
//
// The request and response formats are IPMI v2.0 section 23.2 (Get LAN Configuration
// Parameters, NetFn Transport 0x0C, command 0x02); this file has no system calls.
package ipmi

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// NetFn and command of Get LAN Configuration Parameters.
const (
	NetFnTransport   = 0x0c
	CmdGetLANConfig  = 0x02
	completionOK     = 0x00
	paramIPAddress   = 3
	paramIPSource    = 4
	paramMACAddress  = 5
	paramSubnetMask  = 6
	paramGatewayAddr = 12
)

// LAN is a BMC LAN channel's configuration.
type LAN struct {
	Channel int
	Address netip.Addr
	Netmask netip.Addr
	Gateway netip.Addr
	MAC     string
	// Source is how the BMC got its address: static, dhcp, bios, other.
	Source string
}

// LANParams are the parameters Query reads, in order.
func LANParams() []byte {
	return []byte{paramIPAddress, paramIPSource, paramMACAddress, paramSubnetMask, paramGatewayAddr}
}

// LANRequest is the request data for one parameter of a channel (set and block
// selectors 0, current value rather than revision only).
func LANRequest(channel, param byte) []byte { return []byte{channel & 0x0f, param, 0, 0} }

// ErrCompletion is a response whose completion code is not success (an invalid channel
// answers 0xCC or 0x82, a BMC without the command 0xC1).
var ErrCompletion = errors.New("IPMI completion code")

// SetLANParam reads the response to LANRequest(channel, param) into l: a completion
// code, the parameter revision, then the value.
func (l *LAN) SetLANParam(param byte, resp []byte) error {
	if len(resp) < 1 {
		return errors.New("empty IPMI response")
	}
	if resp[0] != completionOK {
		return fmt.Errorf("%w 0x%02x for LAN parameter %d", ErrCompletion, resp[0], param)
	}
	if len(resp) < 2 {
		return fmt.Errorf("LAN parameter %d: response without a revision", param)
	}
	v := resp[2:]
	ip := func() (netip.Addr, error) {
		if len(v) < 4 {
			return netip.Addr{}, fmt.Errorf("LAN parameter %d: %d bytes, want 4", param, len(v))
		}
		return netip.AddrFrom4([4]byte(v[:4])), nil
	}
	var err error
	switch param {
	case paramIPAddress:
		l.Address, err = ip()
	case paramSubnetMask:
		l.Netmask, err = ip()
	case paramGatewayAddr:
		l.Gateway, err = ip()
	case paramMACAddress:
		if len(v) < 6 {
			return fmt.Errorf("LAN parameter %d: %d bytes, want 6", param, len(v))
		}
		l.MAC = net.HardwareAddr(v[:6]).String()
	case paramIPSource:
		if len(v) < 1 {
			return fmt.Errorf("LAN parameter %d: empty", param)
		}
		l.Source = map[byte]string{1: "static", 2: "dhcp", 3: "bios", 4: "other"}[v[0]&0x0f]
		if l.Source == "" {
			l.Source = "unspecified"
		}
	}
	return err
}

// Configured reports whether the channel has an address worth reporting.
func (l LAN) Configured() bool { return l.Address.IsValid() && !l.Address.IsUnspecified() }
