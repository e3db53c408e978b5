package storm

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestFetchTFTPRetransmitsRRQ: a server that leaves the first three requests unanswered
// (podboot without a free slot) gets the RRQ again after 0.25, 0.5 and 1 s, as from
// iPXE, and the fourth is served.
func TestFetchTFTPRetransmitsRRQ(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const drop = 3
	got := make(chan []time.Time, 1)
	go func() {
		var at []time.Time
		buf := make([]byte, 2048)
		for len(at) <= drop {
			srv.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if n < 2 || buf[1] != 1 { // only RRQs
				continue
			}
			at = append(at, time.Now())
			if len(at) > drop {
				srv.WriteToUDP([]byte{0, 3, 0, 1, 'p', 'x', 'e'}, from) // DATA 1: the whole file
			}
		}
		got <- at
	}()
	n, err := fetchTFTP(srv.LocalAddr().(*net.UDPAddr).AddrPort(), netip.MustParseAddr("127.0.0.1"), "pod/mac/undionly.kpxe")
	if err != nil || n != 3 {
		t.Fatalf("fetch: %d bytes, %v", n, err)
	}
	at := <-got
	if len(at) != drop+1 {
		t.Fatalf("%d requests, want %d", len(at), drop+1)
	}
	for i := 1; i < len(at); i++ {
		want := romTimeout << (i - 1)
		if gap := at[i].Sub(at[i-1]); gap < want*8/10 || gap > want+time.Second {
			t.Errorf("request %d came %s after the one before, want about %s", i+1, gap, want)
		}
	}
}
