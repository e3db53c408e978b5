package storm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
)

// tftpBlockSize is what PXE ROMs commonly ask for (1432: fits a 1500-byte MTU with room).
const tftpBlockSize = 1432

// The PXE ROM's retransmission (iPXE's retry timer, src/net/retry.c): the first wait is
// DEFAULT_MIN_TIMEOUT, a quarter second, doubled on every expiry; the ROM gives up when
// it would exceed DEFAULT_MAX_TIMEOUT (10 s). An unanswered RRQ is thus sent again after
// 0.25, 0.5, 1, 2, 4 and 8 s (six in all) and given up 15.75 s after the first. pin/tftp's
// client waits romTimeout and then sleeps romBackoff before resending, which adds up to
// the same gaps; it cannot wait on after its last request, so it sends a seventh at
// 15.75 s, where iPXE gives up, and gives up 0.25 s later.
const (
	romTimeout = 250 * time.Millisecond
	romRetries = 6
)

// romBackoff is the sleep before resend attempt+1: romTimeout·(2^attempt − 1), so the
// gap between requests is romTimeout·2^attempt.
func romBackoff(attempt int) time.Duration {
	return romTimeout * time.Duration(1<<min(attempt, 10)-1)
}

// fetchTFTP downloads file from server (port 69 on a real site) as the PXE ROM does,
// from src, retransmitting an unanswered request as the ROM does.
func fetchTFTP(server netip.AddrPort, src netip.Addr, file string) (int64, error) {
	c, err := tftp.NewClient(server.String())
	if err != nil {
		return 0, fmt.Errorf("tftp client: %w", err)
	}
	if err := c.SetLocalAddr(src.String()); err != nil {
		return 0, fmt.Errorf("tftp client: %w", err)
	}
	c.SetBlockSize(tftpBlockSize)
	c.SetTimeout(romTimeout)
	c.SetRetries(romRetries)
	c.SetBackoff(romBackoff)
	wt, err := c.Receive(file, "octet")
	if err != nil {
		return 0, fmt.Errorf("tftp RRQ %s: %w", file, err)
	}
	n, err := wt.WriteTo(io.Discard)
	if err != nil {
		return n, fmt.Errorf("tftp %s after %d bytes: %w", file, n, err)
	}
	return n, nil
}

// bootHTTP is iPXE's HTTP client: connections from the host's (NAT) source address.
func bootHTTP(src netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, ResponseHeaderTimeout: 60 * time.Second, Proxy: nil}}
}

// httpGet fetches url into w and returns the byte count.
func httpGet(ctx context.Context, c *http.Client, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s after %d bytes: %w", url, n, err)
	}
	return n, nil
}

// script is what the simulator takes from a rendered iPXE script: the kernel, its
// command line and the initrd.
type script struct {
	kernel, cmdline, initrd string
}

// parseScript reads the kernel and initrd lines of an iPXE script (the shipped
// template's shape: `kernel URL ARGS... || goto failed`, `initrd URL || goto failed`).
func parseScript(b []byte) (script, error) {
	var s script
	if !bytes.HasPrefix(b, []byte("#!ipxe")) {
		return s, fmt.Errorf("not an iPXE script: %.40q", b)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "||")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "kernel":
			s.kernel, s.cmdline = f[1], strings.Join(f[2:], " ")
		case "initrd":
			s.initrd = f[1]
		}
	}
	if s.kernel == "" || s.initrd == "" {
		return s, fmt.Errorf("script names no kernel or no initrd")
	}
	return s, nil
}
