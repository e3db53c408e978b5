package testutil

import (
	"context"
	"net"
	"runtime"
)

// DialContext opens a connection from inside ns (a socket keeps the namespace it was
// made in), for a client of the test's own process that must reach a service in ns.
func (ns *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := enterNamespace(ns.Name); err != nil {
			ch <- result{nil, err}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
