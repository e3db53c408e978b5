package pxe

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestTFTPRetransmitFromRTT: with tftpMinTimeout 200ms (opt-in), once the first blocks
// were acknowledged, a block (or a window) the client does not acknowledge is sent
// again after the transfer's measured round trip (floored at 200 ms on loopback), the
// next retransmission after twice that, not after the fixed tftpTimeout; by default
// (tftpMinTimeout 0) the fixed second stays. A client 250 ms away gets the first copy after about 250 ms plus
// its variation. Raw packets on loopback, as a PXE ROM sends them.
func TestTFTPRetransmitFromRTT(t *testing.T) {
	for _, tc := range []struct {
		name       string
		window     string        // "" : lock-step, no option
		minTimeout time.Duration // Config.TFTPMinTimeout
		ackDelay   time.Duration // the path's round trip, made by the client
		first      [2]time.Duration
		second     [2]time.Duration // bounds of the gap to the second retransmission
	}{
		{"lock-step", "", 200 * time.Millisecond, 0, [2]time.Duration{190 * time.Millisecond, 800 * time.Millisecond}, [2]time.Duration{390 * time.Millisecond, 1200 * time.Millisecond}},
		{"window 4", "4", 200 * time.Millisecond, 0, [2]time.Duration{190 * time.Millisecond, 800 * time.Millisecond}, [2]time.Duration{390 * time.Millisecond, 1200 * time.Millisecond}},
		{"250 ms path", "", 200 * time.Millisecond, 250 * time.Millisecond, [2]time.Duration{250 * time.Millisecond, 900 * time.Millisecond}, [2]time.Duration{500 * time.Millisecond, 1800 * time.Millisecond}},
		{"fixed (default)", "", 0, 0, [2]time.Duration{990 * time.Millisecond, 1800 * time.Millisecond}, [2]time.Duration{990 * time.Millisecond, 1900 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.TFTPMinTimeout = tc.minTimeout })
			c := rttClient(t, f, tc.window, tc.ackDelay)
			// Blocks 1-8 acknowledged after ackDelay: the transfer measures that RTT.
			w := 1
			if tc.window != "" {
				w = 4
			}
			last := 0
			for last < 8 {
				for i := 0; i < w; i++ {
					if blk := c.data(t, time.Second); blk != last+1+i {
						t.Fatalf("got block %d, want %d", blk, last+1+i)
					}
				}
				last += w
				time.Sleep(tc.ackDelay) // the path's delay, not synchronization
				c.ack(t, last)
			}
			// The next block (window) is not acknowledged: time its copies.
			first := c.data(t, time.Second)
			for i := 1; i < w; i++ {
				c.data(t, time.Second)
			}
			t0 := time.Now()
			if blk := c.data(t, 3*time.Second); blk != first {
				t.Fatalf("retransmission: block %d, want %d", blk, first)
			}
			gap1 := time.Since(t0)
			for i := 1; i < w; i++ {
				c.data(t, time.Second)
			}
			t1 := time.Now()
			if blk := c.data(t, 4*time.Second); blk != first {
				t.Fatalf("second retransmission: block %d, want %d", blk, first)
			}
			gap2 := time.Since(t1)
			t.Logf("retransmissions after %v, then %v", gap1, gap2)
			if gap1 < tc.first[0] || gap1 > tc.first[1] {
				t.Errorf("first retransmission after %v, want %v-%v", gap1, tc.first[0], tc.first[1])
			}
			if gap2 < tc.second[0] || gap2 > tc.second[1] {
				t.Errorf("second retransmission after %v, want %v-%v", gap2, tc.second[0], tc.second[1])
			}
		})
	}
}

// TestTFTPDuplicateACKs (RTT-based timeout on): a client that sends each of its ACKs twice (a PXE ROM whose
// own timer is shorter than the path, or a duplicated packet) gets the file intact and
// in order, lock-step and windowed, and the duplicates make the server send nothing
// more: an ACK of the block before a window is not a reason to send the window again
// (with it, duplicates bred resends until OVMF's transfer was aborted in test/e2e).
func TestTFTPDuplicateACKs(t *testing.T) {
	for _, tc := range []struct {
		name, window string
		w            int
	}{{"lock-step", "", 1}, {"window 4", "4", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.TFTPMinTimeout = 200 * time.Millisecond })
			c := rttClient(t, f, tc.window, 0)
			var got []byte
			sent, next := 0, 1
			for {
				blk, payload := c.dataPayload(t, 2*time.Second)
				sent++
				if blk != next {
					continue // a copy of a block already received
				}
				got = append(got, payload...)
				next++
				last := len(payload) < 1400
				if blk%tc.w == 0 || last {
					c.ack(t, blk)
					c.ack(t, blk)
				}
				if last {
					break
				}
			}
			if !bytes.Equal(got, f.content["vmlinuz"]) {
				t.Fatalf("got %d bytes, want %d", len(got), len(f.content["vmlinuz"]))
			}
			// A spurious timeout on a loaded machine may resend one window or two.
			if blocks := next - 1; sent > blocks+2*tc.w {
				t.Errorf("%d DATA packets for %d blocks: duplicate ACKs made the server resend", sent, blocks)
			}
		})
	}
}

// rawConn is a TFTP read transfer of pod-a's vmlinuz (blksize 1400) driven packet by
// packet; the option ack is acknowledged after ackDelay.
type rawConn struct {
	c    *net.UDPConn
	from *net.UDPAddr
	buf  []byte
}

func rttClient(t *testing.T, f *fixture, window string, ackDelay time.Duration) *rawConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rrq := append([]byte{0, 1}, tftpPath("pod-a", macA, "vmlinuz")+"\x00octet\x00blksize\x001400\x00"...)
	if window != "" {
		rrq = append(rrq, "windowsize\x00"+window+"\x00"...)
	}
	if _, err := c.WriteToUDP(rrq, f.svc.TFTPAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	r := &rawConn{c: c, buf: make([]byte, 2000)}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDP(r.buf)
	if err != nil || r.buf[1] != 6 {
		t.Fatalf("option ack %q: %v", r.buf[:n], err)
	}
	r.from = from
	time.Sleep(ackDelay) // the path's delay, not synchronization
	r.ack(t, 0)
	t.Cleanup(func() { c.WriteToUDP([]byte{0, 5, 0, 0, 'x', 0}, from) })
	return r
}

func (r *rawConn) ack(t *testing.T, blk int) {
	t.Helper()
	if _, err := r.c.WriteToUDP([]byte{0, 4, byte(blk >> 8), byte(blk)}, r.from); err != nil {
		t.Fatal(err)
	}
}

func (r *rawConn) data(t *testing.T, wait time.Duration) int {
	t.Helper()
	blk, _ := r.dataPayload(t, wait)
	return blk
}

func (r *rawConn) dataPayload(t *testing.T, wait time.Duration) (int, []byte) {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(wait))
	n, _, err := r.c.ReadFromUDP(r.buf)
	if err != nil || n < 4 || r.buf[1] != 3 {
		t.Fatalf("want DATA: % x: %v", r.buf[:min(n, 4)], err)
	}
	return int(r.buf[2])<<8 | int(r.buf[3]), append([]byte(nil), r.buf[4:n]...)
}
