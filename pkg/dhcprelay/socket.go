package dhcprelay

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listen opens a UDP socket with SO_REUSEADDR (so the optional interface socket can share
// port 67) and SO_BROADCAST, optionally bound to a device. SO_REUSEPORT is deliberately
// not set: a second podboot must fail to bind, not silently split the traffic. pktinfo
// asks for each packet's arrival interface (IP_PKTINFO).
func listen(ctx context.Context, addr, device string, pktinfo bool) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			// A bigger receive buffer absorbs bursts while the workers catch up.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			if pktinfo {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1); serr != nil {
					return
				}
			}
			if device != "" {
				serr = unix.BindToDevice(int(fd), device)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("dhcp: listen on udp %s: %w", addr, err)
	}
	return pc.(*net.UDPConn), nil
}

// interfaceAddr is the index and first IPv4 address of a local interface.
func interfaceAddr(name string) (netip.Addr, int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("dhcp: interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("dhcp: addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if v4, ok := netip.AddrFromSlice(ipn.IP.To4()); ok {
				return v4, ifi.Index, nil
			}
		}
	}
	return netip.Addr{}, 0, fmt.Errorf("dhcp: interface %s has no IPv4 address", name)
}

// arrivalIfindex is the interface index in the IP_PKTINFO control message of oob.
func arrivalIfindex(oob []byte) (int, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo {
			return int(int32(binary.NativeEndian.Uint32(m.Data))), true
		}
	}
	return 0, false
}
