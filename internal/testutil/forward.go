package testutil

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Forward is a TCP forwarder from a listener inside a namespace to an address of the
// test's own namespace (an etcd member on loopback, say). Hold stops it passing bytes
// without closing anything, as a peer that vanished without a reset would look.
type Forward struct {
	t    testing.TB
	ln   net.Listener
	mu   sync.Mutex
	held bool
	cond *sync.Cond
	wg   sync.WaitGroup
}

// Forward listens on addr (host:port) inside ns and forwards every connection to
// target; it stops when the test ends.
func (ns *NS) Forward(addr, target string) *Forward {
	t := ns.tp.t
	t.Helper()
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the namespace's stead
		if err := enterNamespace(ns.Name); err != nil {
			ch <- result{nil, err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("forward %s in %s: %v", addr, ns.Name, r.err)
	}
	f := &Forward{t: t, ln: r.ln}
	f.cond = sync.NewCond(&f.mu)
	f.wg.Go(func() { f.accept(target) })
	t.Cleanup(func() {
		f.Hold(false)
		r.ln.Close()
		f.wg.Wait()
	})
	return f
}

// Hold stops (true) or resumes (false) the flow of bytes on every connection.
func (f *Forward) Hold(on bool) {
	f.mu.Lock()
	f.held = on
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *Forward) accept(target string) {
	var conns sync.WaitGroup
	defer conns.Wait()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		open = append(open, in, out)
		conns.Go(func() { f.pipe(out, in) })
		conns.Go(func() { f.pipe(in, out) })
	}
}

// pipe copies src to dst, waiting while the forwarder is held.
func (f *Forward) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			for f.held {
				f.cond.Wait()
			}
			f.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection: close both ends
			return
		}
	}
}

// enterNamespace moves the calling (locked) thread into network namespace ns.
func enterNamespace(ns string) error {
	nsf, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer nsf.Close()
	if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	return nil
}
