package pxe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

func tftpPort(f *fixture) string {
	return strconv.Itoa(f.svc.TFTPAddr().(*net.UDPAddr).Port)
}

// TestTFTPRealClients fetches a bootloader with atftp and curl at several block sizes,
// asking for tsize, and checks the bytes.
func TestTFTPRealClients(t *testing.T) {
	need(t, "atftp", "curl")
	f := newFixture(t, nil)
	want := f.content["undionly.kpxe"]
	remote := tftpPath("pod-a", macA, "undionly.kpxe")
	for _, blk := range []int{512, 1468, 8192} {
		for _, client := range []string{"atftp", "curl"} {
			t.Run(fmt.Sprintf("%s/blksize=%d", client, blk), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				var cmd *exec.Cmd
				if client == "atftp" {
					cmd = exec.Command("atftp", "--verbose", "--option", fmt.Sprintf("blksize %d", blk), "--option", "tsize 0",
						"-g", "-r", remote, "-l", out, "127.0.0.1", tftpPort(f))
				} else {
					cmd = exec.Command("curl", "-sS", "--max-time", "30", "--tftp-blksize", strconv.Itoa(blk),
						"-o", out, "tftp://127.0.0.1:"+tftpPort(f)+"/"+remote)
				}
				msg, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %v\n%s", cmd.Args, err, msg)
				}
				got, _ := os.ReadFile(out)
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes, want %d", len(got), len(want))
				}
				if client == "atftp" && !strings.Contains(string(msg), fmt.Sprintf("tsize=%d", len(want))) && !strings.Contains(string(msg), fmt.Sprintf("tsize %d", len(want))) {
					t.Logf("atftp output did not show tsize (checked by TestTFTPOptions): %s", msg)
				}
			})
		}
	}
	if n := f.counter(t, "podboot_tftp_transfers_total", map[string]string{"pod": "pod-a", "outcome": "ok"}); n != 6 {
		t.Errorf("pod-a ok transfers = %v, want 6", n)
	}
	if n := f.counter(t, "podboot_tftp_bytes_total", map[string]string{"pod": "pod-a"}); n != float64(6*len(want)) {
		t.Errorf("pod-a bytes = %v, want %d", n, 6*len(want))
	}
}

// TestTFTPRefusals: traversal, absolute paths, another pod's artifact, a file nobody
// references, a netboot-off host, a wrong source address: all "file not found".
func TestTFTPRefusals(t *testing.T) {
	need(t, "atftp", "curl")
	f := newFixture(t, nil)
	tests := []struct {
		name, remote string
	}{
		{"dotdot", "../../etc/passwd"},
		{"dotdot inside", "pod-a/" + "52-54-00-00-00-0a" + "/../../../etc/passwd"},
		{"absolute", "/etc/passwd"},
		{"absolute boot path", "/" + tftpPath("pod-a", macA, "undionly.kpxe")},
		{"other pod's artifact", tftpPath("pod-a", macA, "b-only.efi")},
		{"host of other pod", tftpPath("pod-b", macA, "undionly.kpxe")},
		{"not onboarded", tftpPath("pod-a", macA, "orphan.bin")},
		{"netboot off", tftpPath("pod-a", macOff, "undionly.kpxe")},
		{"wrong source", tftpPath("pod-a", macFar, "undionly.kpxe")},
		{"unknown host", tftpPath("pod-a", "52:54:00:99:99:99", "undionly.kpxe")},
		{"script over tftp", tftpPath("pod-a", macA, "script.ipxe")},
		{"unsigned .p7s", tftpPath("pod-a", macA, "undionly.kpxe.p7s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			cmd := exec.Command("atftp", "--option", "tsize 0", "-g", "-r", tt.remote, "-l", out, "127.0.0.1", tftpPort(f))
			msg, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("atftp fetched %q", tt.remote)
			}
			if !strings.Contains(string(msg), "file not found") {
				t.Fatalf("want 'file not found', got: %s", msg)
			}
			if strings.Contains(string(msg), "/tmp") || strings.Contains(string(msg), "blobs") {
				t.Fatalf("error leaks an internal path: %s", msg)
			}
			cmd = exec.Command("curl", "-sS", "--max-time", "30", "-o", out, "tftp://127.0.0.1:"+tftpPort(f)+"/"+tt.remote)
			if msg, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("curl fetched %q: %s", tt.remote, msg)
			}
		})
	}
	// The other pod's own host does get its file, and pod-a's host gets pod-a's extra.
	for _, ok := range []string{tftpPath("pod-b", macB, "b-only.efi"), tftpPath("pod-a", macA, "extra.bin")} {
		out := filepath.Join(t.TempDir(), "out")
		if msg, err := exec.Command("atftp", "-g", "-r", ok, "-l", out, "127.0.0.1", tftpPort(f)).CombinedOutput(); err != nil {
			t.Fatalf("fetch %s: %v %s", ok, err, msg)
		}
	}
	if n := f.counter(t, "podboot_tftp_refused_total", map[string]string{"pod": "pod-a", "reason": "netboot"}); n != 2 {
		t.Errorf("netboot refusals = %v, want 2 (atftp and curl)", n)
	}
}

// rawTFTP is a minimal client for what the real clients cannot do on demand: stop
// mid-transfer, answer the option ack with an error (the UEFI probe).
type rawTFTP struct {
	c    *net.UDPConn
	peer *net.UDPAddr
}

func dialTFTP(t *testing.T, f *fixture) *rawTFTP { return dialTFTPFrom(t, f, net.IPv4(127, 0, 0, 1)) }

// dialTFTPFrom is dialTFTP from another loopback address.
func dialTFTPFrom(t *testing.T, f *fixture, ip net.IP) *rawTFTP {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawTFTP{c: c, peer: f.svc.TFTPAddr().(*net.UDPAddr)}
}

func (r *rawTFTP) rrq(t *testing.T, file string, opts ...string) {
	b := []byte{0, 1}
	b = append(b, file...)
	b = append(b, 0)
	b = append(b, "octet"...)
	b = append(b, 0)
	for _, o := range opts {
		b = append(b, o...)
		b = append(b, 0)
	}
	if _, err := r.c.WriteToUDP(b, r.peer); err != nil {
		t.Fatal(err)
	}
}

// read returns the next packet; the deadline only bounds a broken server.
func (r *rawTFTP) read(t *testing.T) (uint16, []byte, *net.UDPAddr) {
	buf := make([]byte, 70000)
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := r.c.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(buf), buf[2:n], from
}

func (r *rawTFTP) send(t *testing.T, to *net.UDPAddr, b []byte) {
	if _, err := r.c.WriteToUDP(b, to); err != nil {
		t.Fatal(err)
	}
}

func parseOACK(b []byte) map[string]string {
	parts := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	m := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}

// TestTFTPOptions: tsize is sent for every file, blksize is capped, the UEFI probe
// (OACK answered with ERROR 8) is counted as a probe, not a failure.
func TestTFTPOptions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.TFTPBlockSize = 1400 })
	size := len(f.content["vmlinuz"])
	cl := dialTFTP(t, f)
	cl.rrq(t, tftpPath("pod-a", macA, "vmlinuz"), "tsize", "0", "blksize", "8192")
	op, body, from := cl.read(t)
	if op != 6 {
		t.Fatalf("want OACK, got opcode %d %q", op, body)
	}
	opts := parseOACK(body)
	if opts["tsize"] != strconv.Itoa(size) || opts["blksize"] != "1400" {
		t.Fatalf("OACK %v: want tsize=%d blksize=1400", opts, size)
	}
	// The probe: refuse the options with ERROR 8, as UEFI firmware does.
	cl.send(t, from, append([]byte{0, 5, 0, 8}, "tsize probe\x00"...))
	f.stop() // Serve returns after the transfer ended: the counters are final
	if n := f.counter(t, "podboot_tftp_transfers_total", map[string]string{"pod": "pod-a", "outcome": "probe"}); n != 1 {
		t.Errorf("probes = %v, want 1", n)
	}
	if n := f.counter(t, "podboot_tftp_transfers_total", map[string]string{"pod": "pod-a", "outcome": "failed"}); n != 0 {
		t.Errorf("failures = %v, want 0", n)
	}
}

// TestTFTPTransferLimit: with one slot taken by a stalled transfer, the next request
// gets no answer (its client retransmits it later) and is counted as busy.
func TestTFTPTransferLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxTFTPTransfers = 1; c.TFTPTimeout = 2 * time.Second; c.TFTPRetries = 1 })
	stall := dialTFTP(t, f)
	stall.rrq(t, tftpPath("pod-a", macA, "vmlinuz"))
	if op, _, _ := stall.read(t); op != 3 {
		t.Fatalf("want DATA, got opcode %d", op)
	}
	// Not acknowledged: the transfer holds its slot until it times out.
	second := dialTFTP(t, f)
	second.rrq(t, tftpPath("pod-a", macA, "undionly.kpxe"))
	testutil.WaitFor(t, 5*time.Second, "the second request to be counted busy", func() bool {
		return f.counter(t, "podboot_tftp_refused_total", map[string]string{"reason": "busy"}) == 1
	})
	second.silent(t, 500*time.Millisecond)
	f.stop()
	if n := f.counter(t, "podboot_tftp_refused_total", map[string]string{"reason": "busy"}); n != 1 {
		t.Errorf("busy refusals = %v, want 1", n)
	}
}

// TestTFTPWindowSize: a client that asks for an RFC 7440 windowsize (atftp, as OVMF
// does) gets the file intact, for windows that divide the block count and that do not,
// and for a file whose size is a multiple of the block size (the empty last block).
func TestTFTPWindowSize(t *testing.T) {
	need(t, "atftp")
	f := newFixture(t, nil)
	for _, tc := range []struct{ file, blksize, window string }{
		{"undionly.kpxe", "1400", "4"},  // 70,000 bytes: exactly 50 blocks
		{"undionly.kpxe", "1400", "3"},  // a window that does not divide 50
		{"vmlinuz", "1400", "16"},       // more than the server's cap (8)
		{"initrd.img", "512", "1"},      // window 1: lock-step
		{"undionly.kpxe", "65464", "4"}, // one block, shorter than blksize
	} {
		t.Run(tc.file+"/"+tc.blksize+"/"+tc.window, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			msg, err := exec.Command("atftp", "--verbose", "--option", "blksize "+tc.blksize, "--option", "windowsize "+tc.window,
				"-g", "-r", tftpPath("pod-a", macA, tc.file), "-l", out, "127.0.0.1", tftpPort(f)).CombinedOutput()
			if err != nil {
				t.Fatalf("atftp: %v\n%s", err, msg)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, f.content[tc.file]) {
				t.Fatalf("got %d bytes, want %d\n%s", len(got), len(f.content[tc.file]), msg)
			}
		})
	}
}

// TestTFTPWindowSent: the option ack carries the window (capped at tftpWindowSize, 8),
// after ACK 0 the server sends a whole window of DATA before waiting, an ACK inside the
// window restarts it after that block, and an ACK of its last block moves on: the raw
// packets, as OVMF sees them.
func TestTFTPWindowSent(t *testing.T) {
	f := newFixture(t, nil)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := f.svc.TFTPAddr().(*net.UDPAddr)
	rrq := append([]byte{0, 1}, tftpPath("pod-a", macA, "vmlinuz")+"\x00octet\x00blksize\x001400\x00windowsize\x0016\x00"...)
	if _, err := c.WriteToUDP(rrq, srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDP(buf)
	if err != nil || buf[1] != 6 || !strings.Contains(string(buf[2:n]), "windowsize\x008\x00") {
		t.Fatalf("option ack %q from %v: %v", buf[:n], from, err)
	}
	c.WriteToUDP([]byte{0, 4, 0, 0}, from) // ACK 0
	for want := 1; want <= 8; want++ {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil || n != 4+1400 || buf[1] != 3 || int(buf[2])<<8|int(buf[3]) != want {
			t.Fatalf("packet %d of the window: %d bytes % x: %v", want, n, buf[:min(n, 4)], err)
		}
	}
	// The client saw a gap after block 2: the window restarts at 3 (3..10).
	c.WriteToUDP([]byte{0, 4, 0, 2}, from)
	for want := 3; want <= 10; want++ {
		if n, _, err := c.ReadFromUDP(buf); err != nil || int(buf[2])<<8|int(buf[3]) != want {
			t.Fatalf("after ACK 2, want block %d: % x, %v", want, buf[:min(n, 4)], err)
		}
	}
	c.WriteToUDP([]byte{0, 4, 0, 10}, from) // the window acknowledged: the next one comes
	if n, _, err := c.ReadFromUDP(buf); err != nil || int(buf[2])<<8|int(buf[3]) != 11 {
		t.Fatalf("after ACK 10: % x, %v", buf[:min(n, 4)], err)
	}
	c.WriteToUDP([]byte{0, 5, 0, 0, 'x', 0}, from) // abort
}
