package dhcprelay

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestArrivalIfindex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		oob    []byte
		want   int
		wantOK bool
	}{
		{"pktinfo", unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 7}), 7, true},
		{"pktinfo after another message", append(unix.UnixRights(0), unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 12})...), 12, true},
		{"no control message", nil, 0, false},
		{"another message only", unix.UnixRights(0), 0, false},
		{"truncated", unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 7})[:unix.SizeofCmsghdr+4], 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := arrivalIfindex(tc.oob)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("arrivalIfindex = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// A second server on the port of a running one fails to bind (the store lock does not
// guard two data dirs), whatever socket options it sets.
func TestPortIsNotShared(t *testing.T) {
	e := newTestEnv(t)
	s, _ := startServer(t, e, Config{})
	addr := s.Addr().String()
	for _, o := range []sockOpts{{}, {share: true}, {share: true, pktinfo: true}} {
		c, err := listen(context.Background(), addr, o)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("a second socket with %+v on %s: %v, want address in use", o, addr, err)
		}
	}
	s2, err := New(Config{Addr: addr}, e.mgr, nil, testLogger())
	if err == nil {
		s2.conn.Close()
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a second server on %s: %v, want address in use", addr, err)
	}
}
