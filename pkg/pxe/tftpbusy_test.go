package pxe

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// silent asserts that nothing comes back within d: a request refused for lack of a slot
// gets no answer, so the client retransmits it.
func (r *rawTFTP) silent(t *testing.T, d time.Duration) {
	t.Helper()
	buf := make([]byte, 70000)
	r.c.SetReadDeadline(time.Now().Add(d))
	if n, _, err := r.c.ReadFromUDP(buf); err == nil {
		t.Fatalf("want no answer, got opcode %d %q", binary.BigEndian.Uint16(buf), buf[2:n])
	}
}

// TestTFTPBusyRetransmittedRRQServed: atftp (which retransmits an unanswered RRQ, as a
// PXE ROM does) asks while the only slot is held by a stalled transfer. Its request is
// dropped unanswered and counted as busy; once the stalled transfer ends, a
// retransmission of the same request is served and the file arrives intact.
func TestTFTPBusyRetransmittedRRQServed(t *testing.T) {
	need(t, "atftp")
	f := newFixture(t, func(c *Config) {
		c.MaxTFTPTransfers, c.TFTPFirstACKTimeout = 1, time.Minute
		c.TFTPTimeout, c.TFTPRetries = 2*time.Second, 30
	})
	stall := dialTFTP(t, f)
	stall.rrq(t, tftpPath("pod-a", macA, "undionly.kpxe"))
	op, body, from := stall.read(t)
	if op != 3 {
		t.Fatalf("want DATA, got opcode %d %q", op, body)
	}

	out := filepath.Join(t.TempDir(), "vmlinuz")
	atftp := exec.Command("atftp", "--tftp-timeout", "1", "--option", "blksize 1400", "-g", "-r", tftpPath("pod-a", macA, "vmlinuz"), "-l", out, "127.0.0.1", tftpPort(f))
	var msg bytes.Buffer
	atftp.Stdout, atftp.Stderr = &msg, &msg
	if err := atftp.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- atftp.Wait() }()
	t.Cleanup(func() { atftp.Process.Kill() })
	testutil.WaitFor(t, 15*time.Second, "atftp's request to be dropped as busy", func() bool {
		return f.counter(t, "podboot_tftp_refused_total", map[string]string{"pod": "pod-a", "reason": "busy"}) >= 1
	})

	// The stalled transfer goes on and ends: acknowledge every block to the last.
	for {
		stall.send(t, from, []byte{0, 4, body[0], body[1]})
		if len(body)-2 < 512 {
			break
		}
		if op, body, _ = stall.read(t); op != 3 {
			t.Fatalf("stalled transfer: want DATA, got opcode %d %q", op, body)
		}
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("atftp: %v\n%s", err, msg.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("atftp did not finish once the slot was free\n%s", msg.String())
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, f.content["vmlinuz"]) {
		t.Fatalf("atftp got %d bytes, want %d", len(got), len(f.content["vmlinuz"]))
	}
	if n := f.counter(t, "podboot_tftp_transfers_total", map[string]string{"pod": "pod-a", "outcome": "ok"}); n != 2 {
		t.Errorf("ok transfers = %v, want 2 (the stalled one and atftp's)", n)
	}
}
