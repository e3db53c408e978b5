// Package connlimit caps the open connections of a TCP listener per source address and
// in total, so that one source cannot take every connection a server is willing to
// hold while the others wait. The management API and the boot HTTP and HTTPS listeners
// use it.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Names of the caps, as passed to the refusal callback.
const (
	CapPerSource = "per_source"
	CapTotal     = "total"
)

// Listener is a net.Listener whose Accept closes a connection over a cap as soon as it
// is accepted (before TLS, when it wraps the TCP listener) and goes on accepting.
type Listener struct {
	net.Listener
	perSource, total int
	refused          func(capName string, src netip.Addr)

	mu    sync.Mutex
	open  int
	bySrc map[netip.Addr]int
}

// New wraps ln: at most perSource connections from one source address, total in all.
// refused, if not nil, is called with the cap's name and the source address for each
// connection closed.
func New(ln net.Listener, perSource, total int, refused func(capName string, src netip.Addr)) *Listener {
	if refused == nil {
		refused = func(string, netip.Addr) {}
	}
	return &Listener{Listener: ln, perSource: perSource, total: total, refused: refused, bySrc: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; connections over a cap are
// closed and reported.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := sourceOf(c)
		if capName := l.take(src); capName != "" {
			l.refused(capName, src)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() { l.release(src) })}, nil
	}
}

func (l *Listener) take(src netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.total:
		return CapTotal
	case l.bySrc[src] >= l.perSource:
		return CapPerSource
	}
	l.open++
	l.bySrc[src]++
	return ""
}

func (l *Listener) release(src netip.Addr) {
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
