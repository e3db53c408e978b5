package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podboot/podboot/pkg/agent/lldp"
	"github.com/podboot/podboot/pkg/agentproto"
)

// DefaultLLDPInspectWait is how long a discovered host's agent listens for LLDP before
// it reports its inventory: 802.1AB's default transmit interval is 30 s, and accept
// rules may name the host by its switch port. An install does not wait by default; its
// inventory has what was heard between NIC up and the inventory.
const DefaultLLDPInspectWait = 31 * time.Second

// lldpListener collects the LLDP neighbour of each Ethernet NIC in the background from
// when the NICs come up, so the wait before the inventory is what is left of the window.
type lldpListener struct {
	start time.Time
	stop  context.CancelFunc
	mu    sync.Mutex
	seen  map[string]agentproto.LLDP // by interface name, the last LLDPDU heard
}

// listenLLDP opens a packet socket for LLDP on each NIC; failures are logged (the
// inventory then lacks the neighbour, nothing else changes).
func listenLLDP(ctx context.Context, log *slog.Logger, nics []net.Interface) *lldpListener {
	ctx, stop := context.WithCancel(ctx)
	l := &lldpListener{start: time.Now(), stop: stop, seen: map[string]agentproto.LLDP{}}
	for _, n := range nics {
		fd, err := lldpSocket(n.Index)
		if err != nil {
			log.Warn("LLDP: cannot listen", "nic", n.Name, "err", err)
			continue
		}
		go l.read(ctx, fd, n.Name, log)
	}
	return l
}

// lldpSocket is an AF_PACKET datagram socket on one interface for the LLDP EtherType,
// joined to the nearest-bridge group address, with a short receive timeout so the
// reader notices its context ending.
func lldpSocket(ifindex int) (int, error) {
	protocol := int(htons(lldp.EtherType))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return -1, err
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], lldp.Multicast)
	tv := unix.Timeval{Usec: 250_000}
	for _, err := range []error{
		unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(lldp.EtherType), Ifindex: ifindex}),
		unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
	} {
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (l *lldpListener) read(ctx context.Context, fd int, nic string, log *slog.Logger) {
	defer unix.Close(fd)
	buf := make([]byte, 1600)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			log.Warn("LLDP: receive failed; no longer listening", "nic", nic, "err", err)
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		nb, err := lldp.Parse(buf[:n])
		if err != nil {
			log.Warn("LLDP: frame ignored", "nic", nic, "err", err)
			continue
		}
		l.mu.Lock()
		if _, had := l.seen[nic]; !had {
			log.Info("LLDP neighbour", "nic", nic, "chassis", nb.ChassisID, "port", nb.PortID, "system", nb.SystemName)
		}
		l.seen[nic] = agentproto.LLDP{ChassisID: nb.ChassisID, PortID: nb.PortID, PortDescription: nb.PortDescription, SystemName: nb.SystemName}
		l.mu.Unlock()
	}
}

// fill waits until every NIC with link in inv has a neighbour or the window (from
// when listening began) has passed, then writes the neighbours into inv.
func (l *lldpListener) fill(ctx context.Context, inv *agentproto.Inventory, window time.Duration) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !l.heardAll(inv.NICs) && time.Since(l.start) < window {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range inv.NICs {
		if nb, ok := l.seen[inv.NICs[i].Name]; ok {
			inv.NICs[i].LLDP = &nb
		}
	}
}

func (l *lldpListener) heardAll(nics []agentproto.NIC) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range nics {
		if _, ok := l.seen[n.Name]; n.Link && !ok {
			return false
		}
	}
	return true
}
