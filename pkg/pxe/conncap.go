package pxe

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/podboot/podboot/internal/connlimit"
)

// limitConns caps a boot listener's open connections per source address and in total
// (MaxConnsPerSource, MaxConns), before TLS: one source cannot hold every connection the
// boot service keeps open. Refusals are counted by listener and cap, and logged at Warn
// at most once a second.
func (s *Service) limitConns(ln net.Listener, name string) net.Listener {
	return connlimit.New(ln, s.cfg.MaxConnsPerSource, s.cfg.MaxConns, func(capName string, src netip.Addr) {
		s.m.connRefused.WithLabelValues(name, capName).Inc()
		lvl, n := s.connLog.Level(time.Now())
		s.log.Log(context.Background(), lvl, "boot connection refused: cap reached", "listener", name, "cap", capName,
			"source", src.String(), "refused_since_last_warning", n)
	})
}
