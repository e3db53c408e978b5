package server

import (
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the management API's connection caps.
const (
	DefaultMaxConnsPerSource = 64
	DefaultMaxConns          = 1024
)

// connLimiter caps the open connections of a listener per source address and in total.
// A connection over a cap is closed as soon as it is accepted, before TLS: one source
// cannot take every connection the server is willing to hold, and the others keep being
// served.
type connLimiter struct {
	net.Listener
	perSource, total int
	refused          *prometheus.CounterVec

	mu    sync.Mutex
	open  int
	bySrc map[netip.Addr]int
}

func newConnLimiter(ln net.Listener, perSource, total int) *connLimiter {
	return &connLimiter{Listener: ln, perSource: perSource, total: total, bySrc: map[netip.Addr]int{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podboot_api_connections_refused_total",
			Help: "Management API connections closed at accept because a cap was reached (per_source or total).",
		}, []string{"cap"})}
}

// Accept returns the next connection within the caps; connections over a cap are
// closed and counted.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c)
		if capName := l.take(src); capName != "" {
			l.refused.WithLabelValues(capName).Inc()
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() { l.release(src) })}, nil
	}
}

func (l *connLimiter) take(src netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return "total"
	case l.bySrc[src] >= l.perSource:
		return "per_source"
	}
	l.open++
	l.bySrc[src]++
	return ""
}

func (l *connLimiter) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySrc[src]--; l.bySrc[src] <= 0 {
		delete(l.bySrc, src)
	}
}

func sourceOf(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// limitedConn gives its slot back when it is closed (once, however often Close runs).
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
