package dhcprelay

import (
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
