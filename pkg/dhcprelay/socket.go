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

// sockOpts are the options of a DHCP socket.
type sockOpts struct {
	// device binds the socket to one interface (SO_BINDTODEVICE).
	device string
	// share sets SO_REUSEADDR, which the relays' socket and the interface socket need to
	// share the port. Without an interface socket it stays off, so that a second podboot
	// (another data dir, so no store lock) fails to bind the port instead of sharing it:
	// on Linux two UDP sockets that both set SO_REUSEADDR bind the same address.
	// SO_REUSEPORT is never set.
	share bool
	// pktinfo asks for each packet's arrival interface (IP_PKTINFO).
	pktinfo bool
}

// listen opens a UDP socket with SO_BROADCAST and the options o.
func listen(ctx context.Context, addr string, o sockOpts) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = o.apply(int(fd)) })
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

func (o sockOpts) apply(fd int) error {
	if o.share {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fmt.Errorf("SO_REUSEADDR: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	// A bigger receive buffer absorbs bursts while the workers catch up.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if o.pktinfo {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
			return fmt.Errorf("IP_PKTINFO: %w", err)
		}
	}
	if o.device != "" {
		if err := unix.BindToDevice(fd, o.device); err != nil {
			return fmt.Errorf("bind to device %s: %w", o.device, err)
		}
	}
	return nil
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
