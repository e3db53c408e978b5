package dhcprelay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"
)

// A relay configured with the wrong server port (dhcrelay -p, a switch's "ip helper"
// with a port) sends where podboot does not serve: nothing answers and podboot would see
// nothing. Probe sockets (Config.ProbeAddrs) listen on such ports only to record who
// sends there; they never answer, so a probe on a port another service needs is
// harmless to it only if that service is not on this node.

// openProbes binds the probe sockets.
func (s *Server) openProbes() error {
	for _, a := range s.cfg.ProbeAddrs {
		c, err := listen(context.Background(), a, sockOpts{})
		if err != nil {
			for _, p := range s.probes {
				p.Close()
			}
			s.probes = nil
			return err
		}
		s.probes = append(s.probes, c)
	}
	return nil
}

// readProbe records every relayed packet that arrives on a probe socket.
func (s *Server) readProbe(ctx context.Context, conn *net.UDPConn) {
	port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	buf := make([]byte, readBufSize)
	for ctx.Err() == nil {
		n, peer, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				continue
			}
			s.log.Warn("probe read failed", "port", port, "err", err)
			continue
		}
		s.probePacket(buf[:n], peer, port)
	}
}

func (s *Server) probePacket(raw []byte, peer netip.AddrPort, port uint16) {
	r, err := parseRequest(raw, peer)
	if err != nil || !r.giaddr.IsValid() {
		return // only relayed DHCP says which relay is misconfigured
	}
	pod := ""
	if pc, ok := s.h.reg.Resolve(r.matchKeys()); ok {
		pod = pc.Pod.Name
	}
	s.h.watch.observe(time.Now(), peer, port, true, r.matchKeys(), r.relay.present, pod, "wrong_port")
}

// Relays returns the relays heard since since, most recent first: what each sent, to
// which port, and what became of it.
func (s *Server) Relays(since time.Time) []RelaySeen { return s.h.watch.snapshot(since) }

// Port is the server port relays must send to.
func (s *Server) Port() uint16 { return s.Addr().Port() }
