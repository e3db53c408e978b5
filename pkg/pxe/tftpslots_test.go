package pxe

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestTFTPSlotShares: the total, a source's and a pod's shares each refuse in turn, and
// a release gives the slot back to all three.
func TestTFTPSlotShares(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	s := newTFTPSlots(5, 2, 3)
	for i, tc := range []struct {
		src  netip.Addr
		pod  string
		want refusal
	}{
		{a, "p", ""}, {a, "p", ""}, {a, "p", busySource}, // a's share is 2
		{b, "p", ""}, {b, "p", busyPod}, // p's share is 3
		{b, "q", ""}, {c, "q", ""}, {c, "r", busyTotal}, // 5 in all
	} {
		if got := s.acquire(tc.src, tc.pod); got != tc.want {
			t.Fatalf("acquire %d (%s, %s) = %q, want %q", i, tc.src, tc.pod, got, tc.want)
		}
	}
	s.release(a, "p")
	if got := s.acquire(a, "p"); got != "" {
		t.Fatalf("after a release: %q", got)
	}
	if n := s.inUse(); n != 5 {
		t.Fatalf("in use %d, want 5", n)
	}
}

// TestTFTPSourceShare: one source stalling transfers takes only its share; another
// source (of another pod, and of the same pod) still gets its file.
func TestTFTPSourceShare(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.MaxTFTPTransfers, c.MaxTFTPPerSource, c.TFTPFirstACKTimeout = 8, 2, time.Minute
		c.TFTPTimeout, c.TFTPRetries = 2*time.Second, 1
	})
	for range 2 {
		stall := dialTFTP(t, f)
		stall.rrq(t, tftpPath("pod-a", macA, "vmlinuz"))
		if op, body, _ := stall.read(t); op != 3 {
			t.Fatalf("want DATA, got opcode %d %q", op, body)
		}
	}
	third := dialTFTP(t, f)
	third.rrq(t, tftpPath("pod-b", macB, "b-only.efi"))
	testutil.WaitFor(t, 5*time.Second, "the third request to be counted busy_source", func() bool {
		return f.counter(t, "podboot_tftp_refused_total", map[string]string{"pod": "pod-b", "reason": "busy_source"}) == 1
	})
	third.silent(t, 500*time.Millisecond)
	other := dialTFTPFrom(t, f, net.IPv4(127, 0, 0, 9))
	other.rrq(t, tftpPath("pod-a", macFar, "vmlinuz"))
	if op, body, _ := other.read(t); op != 3 {
		t.Fatalf("another source: want DATA, got opcode %d %q", op, body)
	}
	if n := f.counter(t, "podboot_tftp_refused_total", map[string]string{"pod": "pod-b", "reason": "busy_source"}); n != 1 {
		t.Errorf("busy_source refusals = %v, want 1", n)
	}
}

// TestTFTPUnackedGivesSlotBack: a transfer whose first DATA is not acknowledged gives
// its slot back after the first-ACK timeout, long before its retries end; acknowledged
// late, it gets "server busy" when the slot is taken.
func TestTFTPUnackedGivesSlotBack(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.MaxTFTPTransfers, c.TFTPFirstACKTimeout = 1, 200*time.Millisecond
		c.TFTPTimeout, c.TFTPRetries = time.Second, 2
	})
	stall := dialTFTP(t, f)
	stall.rrq(t, tftpPath("pod-a", macA, "vmlinuz"))
	op, _, from := stall.read(t)
	if op != 3 {
		t.Fatalf("want DATA, got opcode %d", op)
	}
	start := time.Now()
	testutil.WaitFor(t, 3*time.Second, "the stalled transfer's slot", func() bool {
		return f.counter(t, "podboot_tftp_slots_in_use", nil) == 0
	})
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("slot came back after %s, want about the first-ACK timeout", d)
	}
	next := dialTFTP(t, f)
	next.rrq(t, tftpPath("pod-a", macA, "undionly.kpxe"))
	if op, body, _ := next.read(t); op != 3 {
		t.Fatalf("after the slot came back: want DATA, got opcode %d %q", op, body)
	}
	stall.send(t, from, []byte{0, 4, 0, 1}) // ACK 1, too late
	for {
		op, body, _ := stall.read(t)
		if op == 3 {
			continue // a retransmitted block 1
		}
		if op != 5 || string(body[2:]) != "server busy\x00" {
			t.Fatalf("late ACK: want ERROR server busy, got opcode %d %q", op, body)
		}
		break
	}
	if n := f.counter(t, "podboot_tftp_unacked_released_total", map[string]string{"pod": "pod-a"}); n != 1 {
		t.Errorf("early releases = %v, want 1", n)
	}
}

// TestTFTPErrorTexts: a client only ever reads "file not found" or "server busy" (the
// latter only after a late first acknowledgement: a request without a slot is dropped).
func TestTFTPErrorTexts(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct{ name, op, file string }{
		{"traversal", "\x00\x01", "pod-a/../../etc/passwd"},
		{"unknown file", "\x00\x01", tftpPath("pod-a", macA, "nope.bin")},
		{"unknown pod", "\x00\x01", tftpPath("pod-x", macA, "vmlinuz")},
		{"write request", "\x00\x02", tftpPath("pod-a", macA, "vmlinuz")},
	} {
		cl := dialTFTP(t, f)
		if _, err := cl.c.WriteToUDP([]byte(tc.op+tc.file+"\x00octet\x00"), cl.peer); err != nil {
			t.Fatal(err)
		}
		if op, body, _ := cl.read(t); op != 5 || string(body[2:]) != "file not found\x00" {
			t.Errorf("%s: got opcode %d %q, want ERROR \"file not found\"", tc.name, op, body)
		}
	}
}

// TestTFTPBusyLogRateLimited: a burst of requests dropped for lack of a slot is counted
// in full but logged at Warn once (the rest at Debug), so a flood cannot fill the log.
func TestTFTPBusyLogRateLimited(t *testing.T) {
	h := newRecordingHandler()
	f := newFixtureLog(t, func(c *Config) { c.MaxTFTPTransfers = 1; c.TFTPTimeout = 2 * time.Second; c.TFTPRetries = 1 }, slog.New(h))
	stall := dialTFTP(t, f)
	stall.rrq(t, tftpPath("pod-a", macA, "vmlinuz"))
	if op, _, _ := stall.read(t); op != 3 {
		t.Fatalf("want DATA, got opcode %d", op)
	}
	const burst = 5
	for range burst {
		c := dialTFTP(t, f)
		c.rrq(t, tftpPath("pod-a", macA, "undionly.kpxe"))
	}
	testutil.WaitFor(t, 5*time.Second, "the burst to be counted busy", func() bool {
		return f.counter(t, "podboot_tftp_refused_total", map[string]string{"reason": "busy"}) == burst
	})
	warns := 0
	h.mu.Lock()
	for _, r := range *h.recs {
		if r.Message == "tftp request dropped: transfer limit reached" {
			warns++
			if r.Level != slog.LevelWarn {
				t.Errorf("busy refusal logged at %v", r.Level)
			}
		}
	}
	h.mu.Unlock()
	if warns != 1 {
		t.Errorf("%d busy refusals logged at Warn, want 1 for a burst of %d", warns, burst)
	}
}
