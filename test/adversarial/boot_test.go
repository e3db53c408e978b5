package adversarial

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podboot/podboot/internal/testutil"
)

// The boot topology: podboot in central (198.51.100.10); ToR a (WAN 198.51.100.2) relays
// the NAT pod pod-nat (rack 192.0.2.0/24, giaddr 192.0.2.1) and masquerades its rack
// (nft), so its host reaches podboot from 198.51.100.2, the address its relay sends from;
// ToR b (WAN 198.51.100.3) stands for the NAT pod pod-natb (rack 203.0.113.0/24); an
// outsider sits on the WAN (198.51.100.66).
const (
	bootMAC      = "52:54:00:ad:b0:01"
	bootMACB     = "52:54:00:ad:b0:02"
	bootServer   = "198.51.100.10"
	bootRelayA   = "198.51.100.2"
	bootOutsider = "198.51.100.66"
)

var bootTokenRE = regexp.MustCompile(`podboot\.token=(pbh_[A-Za-z0-9_-]+)`)

func bootPodYAML(name, giaddr, cidr, first, last string) string {
	return fmt.Sprintf(`name: %s
nat: true
profile: adv-boot
serverAddress: %s
match:
  - giaddr: %s
subnets:
  - cidr: %s
    gateway: %s
    leaseSeconds: 600
    rangeStart: %s
    rangeEnd: %s
`, name, bootServer, giaddr, cidr, giaddr, first, last)
}

// bootServe is the running topology.
type bootServe struct {
	central              *testutil.NS
	torA, torB, outsider *testutil.ToR
	host                 *testutil.NS // pod-nat's host, behind ToR a's relay and NAT
	cli                  *testutil.CLI
	data                 string
	udhcpcScript         string
}

// bootStart builds the topology, starts podboot with short HTTP timeouts and registers
// the pods, a profile with its files, and one host per pod through the real CLI.
func bootStart(t *testing.T) *bootServe {
	t.Helper()
	testutil.RequireRoot(t, "dhcrelay", "udhcpc", "atftp", "curl", "nft")
	bin := testutil.BuildPodboot(t)
	data, work := t.TempDir(), t.TempDir()
	cfg := filepath.Join(work, "serve.yaml")
	bootWrite(t, cfg, "boot:\n  httpReadHeaderTimeout: 2s\n  httpReadTimeout: 3s\n")

	tp := testutil.NewTopology(t)
	central := tp.Central(bootServer + "/24")
	b := &bootServe{data: data, central: central,
		torA:     tp.ToR(central, "a", bootRelayA+"/24", "192.0.2.1/24", bootServer),
		torB:     tp.ToR(central, "b", "198.51.100.3/24", "203.0.113.1/24", bootServer),
		outsider: tp.ToR(central, "x", bootOutsider+"/24", "203.0.113.254/32", bootServer),
	}
	serve := central.Start([]string{"PODBOOT_DHCP_ADDR=:67", "PODBOOT_TFTP_ADDR=:69", "PODBOOT_HTTP_ADDR=:8080", "PODBOOT_HTTPS_ADDR=:8443"},
		bin, "serve", "--config", cfg, "--data-dir", data, "--api-addr", "127.0.0.1:9443")
	testutil.WaitFor(t, 30*time.Second, "podboot to serve", func() bool {
		if serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", serve.Output())
		}
		return strings.Contains(serve.Output(), "podboot serving")
	})
	b.cli = central.CLI(bin, data, "127.0.0.1:9443")

	for _, f := range []struct{ name, kind string }{{"undionly.kpxe", "bootloader"}, {"adv-kernel", "kernel"}, {"adv-initrd", "initrd"}} {
		p := filepath.Join(work, f.name)
		bootWrite(t, p, string(bootRandom(t, 1<<20)))
		b.cli.MustRun(t, "image", "add", p, "--kind", f.kind, "--name", f.name, "--version", "1")
	}
	prof := filepath.Join(work, "profile.yaml")
	bootWrite(t, prof, "name: adv-boot\nkernel: adv-kernel@1\ninitrd: adv-initrd@1\n")
	b.cli.MustRun(t, "profile", "apply", "-f", prof)
	pods := filepath.Join(work, "pods.yaml")
	bootWrite(t, pods, bootPodYAML("pod-nat", "192.0.2.1", "192.0.2.0/24", "192.0.2.100", "192.0.2.150")+"---\n"+
		bootPodYAML("pod-natb", "203.0.113.1", "203.0.113.0/24", "203.0.113.100", "203.0.113.150"))
	b.cli.MustRun(t, "pod", "apply", "-f", pods)
	b.cli.MustRun(t, "host", "add", bootMAC, "--pod", "pod-nat", "--hostname", "adv1")
	b.cli.MustRun(t, "host", "add", bootMACB, "--pod", "pod-natb", "--hostname", "adv2")
	b.torA.StartRelay(bootServer)
	for _, rule := range []string{"add table ip nat", "add chain ip nat post { type nat hook postrouting priority 100; }",
		`add rule ip nat post ip saddr 192.0.2.0/24 oifname "wan" masquerade`} {
		b.torA.Run("nft", rule)
	}
	b.host = b.torA.Host("adv1", bootMAC)
	b.udhcpcScript = filepath.Join(work, "udhcpc.sh")
	bootWrite(t, b.udhcpcScript, bootUdhcpcScript)
	if err := os.Chmod(b.udhcpcScript, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// bootUdhcpcScript configures the bound lease (address and default route), as a host's
// boot firmware would use it.
const bootUdhcpcScript = `#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/$mask" dev "$interface"
ip route replace default via "$router"
`

func bootWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func bootRandom(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func bootScriptURL(pod, mac string) string {
	return "http://" + bootServer + ":8080/boot/" + pod + "/" + strings.ReplaceAll(mac, ":", "-") + "/script.ipxe"
}

// bootToken fetches the iPXE script from ns and returns its token ("" when none).
func bootToken(t *testing.T, ns *testutil.NS, pod, mac string) string {
	t.Helper()
	script := ns.Run("curl", "-sf", bootScriptURL(pod, mac))
	if !strings.HasPrefix(script, "#!ipxe") || !strings.Contains(script, "kernel ") {
		t.Fatalf("not a boot script:\n%s", script)
	}
	if m := bootTokenRE.FindStringSubmatch(script); m != nil {
		return m[1]
	}
	return ""
}

// bootAgentCode is the HTTP status of the agent's kickstart request with tok: 403 when
// the token is refused (an accepted one gets 409 here: the test profile has no stage2).
func bootAgentCode(t *testing.T, b *bootServe, mac, tok string) string {
	t.Helper()
	return b.torA.Run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", filepath.Join(b.data, "pki", "ca.pem"),
		"-H", "Authorization: Bearer "+tok, "https://"+bootServer+":8443/agent/v1/hosts/"+strings.ReplaceAll(mac, ":", "-")+"/kickstart")
}

// bootDHCP runs one real DHCP exchange for the host behind ToR a's dhcrelay.
func bootDHCP(t *testing.T, b *bootServe) {
	t.Helper()
	b.host.Run("udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", b.udhcpcScript)
}

// bootMetric reads one sample of podboot's /metrics (the sum of the series matching
// name and every label given).
func bootMetric(t *testing.T, b *bootServe, name string, labels ...string) float64 {
	t.Helper()
	out := b.central.Run("curl", "-sf", "--cacert", filepath.Join(b.data, "pki", "ca.pem"), "https://127.0.0.1:9443/metrics")
	var sum float64
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// bootInNS runs fn with the calling thread in ns's network namespace: the sockets fn
// opens live there, as if an attacker in that namespace had opened them.
func bootInNS(t *testing.T, ns *testutil.NS, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("back to the test's namespace: %v", err) // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// bootUDP opens a UDP socket in ns.
func bootUDP(t *testing.T, ns *testutil.NS) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	bootInNS(t, ns, func() {
		var err error
		if c, err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func bootRQ(op uint16, file string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	return append(append(b, file...), "\x00octet\x00"...)
}

// bootErrorTexts reads what arrives on c until it is quiet for quiet (at most max) and
// returns the texts of the ERROR packets that answered a request: DATA is read and never
// acknowledged, and the ERROR a transfer sends after its DATA went unanswered (pin/tftp's
// own timeout text, see docs/boot.md) is left out.
func bootErrorTexts(c *net.UDPConn, quiet, max time.Duration) []string {
	var texts []string
	sentData := map[int]bool{} // transfer ports that sent DATA
	buf := make([]byte, 2048)
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return texts
		}
		switch op := binary.BigEndian.Uint16(buf); {
		case n < 4:
		case op == 3 || op == 6:
			sentData[from.Port] = true
		case op == 5 && !sentData[from.Port]:
			texts = append(texts, strings.TrimRight(string(buf[4:n]), "\x00"))
		}
	}
	return texts
}

// TestBootAttacks drives the boot service's surfaces the way the attack did.
func TestBootAttacks(t *testing.T) {
	b := bootStart(t)
	tftpA := "pod-nat/" + strings.ReplaceAll(bootMAC, ":", "-") + "/undionly.kpxe"
	tftpB := "pod-natb/" + strings.ReplaceAll(bootMACB, ":", "-") + "/undionly.kpxe"

	// Must-fix 3: a NAT pod's script URL does not mint tokens for whoever knows a pod
	// name and a MAC; the host behind the relay gets one per DHCP exchange.
	t.Run("nat token", func(t *testing.T) {
		if tok := bootToken(t, b.outsider.NS, "pod-nat", bootMAC); tok != "" {
			t.Fatalf("an outsider got a host token before any DHCP exchange: %s", tok)
		}
		bootDHCP(t, b)
		if tok := bootToken(t, b.outsider.NS, "pod-nat", bootMAC); tok != "" {
			t.Fatalf("an outsider got a host token after the host's exchange: %s", tok)
		}
		tok := bootToken(t, b.host, "pod-nat", bootMAC)
		if tok == "" {
			t.Fatal("the host (through its site's NAT, right after its exchange) got no token")
		}
		if again := bootToken(t, b.host, "pod-nat", bootMAC); again != "" {
			t.Fatal("a second token for the same exchange")
		}
		if got := bootToken(t, b.outsider.NS, "pod-nat", bootMAC); got != "" {
			t.Fatal("an outsider got a token")
		}
		if code := bootAgentCode(t, b, bootMAC, tok); code == "401" || code == "403" {
			t.Fatalf("the host's token was replaced by the other fetches: kickstart HTTP %s", code)
		}
		bootDHCP(t, b)
		next := bootToken(t, b.host, "pod-nat", bootMAC)
		if next == "" || next == tok {
			t.Fatalf("a new exchange brought no new token (%q)", next)
		}
		if code := bootAgentCode(t, b, bootMAC, tok); code != "403" {
			t.Errorf("the first token after the host's next token: kickstart HTTP %s, want 403", code)
		}
		if code := bootAgentCode(t, b, bootMAC, next); code == "401" || code == "403" {
			t.Errorf("the host's new token: kickstart HTTP %s", code)
		}
		if n := bootMetric(t, b, "podboot_http_script_token_withheld_total", `reason="source"`); n < 2 {
			t.Errorf("withheld for the outsider's source: %v, want >= 2", n)
		}
	})

	// Low item: the client reads only "file not found" or "server busy".
	t.Run("tftp error texts", func(t *testing.T) {
		c := bootUDP(t, b.outsider.NS)
		srv := &net.UDPAddr{IP: net.ParseIP(bootServer), Port: 69}
		for _, rq := range [][]byte{
			bootRQ(1, "pod-nat/../../../etc/passwd"),
			bootRQ(1, "/etc/passwd"),
			bootRQ(1, "pod-nat/"+strings.ReplaceAll(bootMAC, ":", "-")+"/nope.bin"),
			bootRQ(1, "pod-none/"+strings.ReplaceAll(bootMAC, ":", "-")+"/undionly.kpxe"),
			bootRQ(2, tftpA),
		} {
			if _, err := c.WriteToUDP(rq, srv); err != nil {
				t.Fatal(err)
			}
			texts := bootErrorTexts(c, time.Second, 5*time.Second)
			if len(texts) != 1 || texts[0] != "file not found" {
				t.Errorf("%q: error texts %q, want exactly [\"file not found\"]", rq[2:], texts)
			}
		}
	})

	// Must-fix 5: one source sending hundreds of RRQs it never acknowledges takes its
	// share of the slots only; other sources and pods still download, and the slots
	// come back soon after.
	t.Run("tftp slot hog", func(t *testing.T) {
		c := bootUDP(t, b.outsider.NS)
		srv := &net.UDPAddr{IP: net.ParseIP(bootServer), Port: 69}
		const burst = 700
		for i := range burst {
			if _, err := c.WriteToUDP(bootRQ(1, tftpA), srv); err != nil {
				t.Fatal(err)
			}
			if i%50 == 49 {
				time.Sleep(20 * time.Millisecond) // pacing, so the server's socket buffer does not drop the burst
			}
		}
		testutil.WaitFor(t, 5*time.Second, "the burst to reach a transfer limit", func() bool {
			return bootMetric(t, b, "podboot_tftp_refused_total", `reason="busy`) > 0
		})
		out := filepath.Join(t.TempDir(), "a")
		b.torA.Run("atftp", "-g", "-r", tftpA, "-l", out, bootServer)
		if fi, err := os.Stat(out); err != nil || fi.Size() != 1<<20 {
			t.Fatalf("atftp from another source of the same pod: %v", err)
		}
		got := b.torB.Run("sh", "-c", "curl -sf tftp://"+bootServer+"/"+tftpB+" | wc -c")
		if strings.TrimSpace(got) != strconv.Itoa(1<<20) {
			t.Fatalf("curl tftp:// for another pod: %s bytes", got)
		}
		start := time.Now()
		testutil.WaitFor(t, 6*time.Second, "the hog's slots to come back", func() bool {
			return bootMetric(t, b, "podboot_tftp_slots_in_use") == 0
		})
		t.Logf("slots back %s after the downloads", time.Since(start).Round(100*time.Millisecond))
		for _, text := range bootErrorTexts(c, 500*time.Millisecond, 10*time.Second) {
			if text != "server busy" && text != "file not found" {
				t.Errorf("the hog read error text %q", text)
			}
		}
	})

	// Slow clients on the boot HTTP and HTTPS ports (headers and bodies one byte at a
	// time) are cut by the read timeouts and do not hold up a real download.
	t.Run("http slow clients", func(t *testing.T) {
		type slow struct {
			name, addr, head string
			tls              bool
			n                int
			within           time.Duration
		}
		var conns []net.Conn
		var kinds []slow
		for _, s := range []slow{
			{"http headers", ":8080", "GET /boot/pod-nat/x/script.ipxe HTTP/1.1\r\nHost: a\r\n", false, 40, 2*time.Second + 3*time.Second},
			{"http body", ":8080", "POST /boot/pod-nat/x/y HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", false, 40, 3*time.Second + 3*time.Second},
			{"https headers", ":8443", "GET /agent/v1/hosts/x/kickstart HTTP/1.1\r\nHost: a\r\n", true, 20, 2*time.Second + 3*time.Second},
		} {
			bootInNS(t, b.outsider.NS, func() {
				for range s.n {
					c, err := net.DialTimeout("tcp", bootServer+s.addr, 5*time.Second)
					if err != nil {
						t.Fatalf("%s: %v", s.name, err)
					}
					if s.tls {
						tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // the attacker does not care
						tc.SetDeadline(time.Now().Add(5 * time.Second))
						if err := tc.Handshake(); err != nil {
							t.Fatalf("%s: handshake: %v", s.name, err)
						}
						tc.SetDeadline(time.Time{})
						c = tc
					}
					conns = append(conns, c)
					kinds = append(kinds, s)
				}
			})
		}
		start := time.Now()
		var wg sync.WaitGroup
		held := make([]time.Duration, len(conns))
		for i, c := range conns {
			t.Cleanup(func() { c.Close() })
			wg.Go(func() { held[i] = bootTrickle(c, kinds[i].head, 30*time.Second) })
		}
		// A real download while they trickle.
		got := b.torA.Run("sh", "-c", "curl -sf --max-time 20 http://"+bootServer+":8080/boot/pod-nat/"+strings.ReplaceAll(bootMAC, ":", "-")+"/adv-kernel | wc -c")
		if strings.TrimSpace(got) != strconv.Itoa(1<<20) {
			t.Errorf("curl during the slow clients: %s bytes", got)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the download took %s beside the slow clients", d)
		}
		wg.Wait()
		for i, d := range held {
			if d > kinds[i].within {
				t.Errorf("%s connection %d held %s, want it cut within %s", kinds[i].name, i, d, kinds[i].within)
			}
		}
	})

	// One source opening more connections than the per-source cap of each boot listener
	// (boot.maxConnsPerSource, default 128): the excess is closed at accept and counted,
	// and another source downloads meanwhile.
	t.Run("http connection hog", func(t *testing.T) {
		const n, perSource = 200, 128
		for _, l := range []struct{ listener, port string }{{"http", ":8080"}, {"https", ":8443"}} {
			before := bootMetric(t, b, "podboot_boot_connections_refused_total", `listener="`+l.listener+`"`, `cap="per_source"`)
			bootInNS(t, b.outsider.NS, func() {
				for range n {
					c, err := net.DialTimeout("tcp", bootServer+l.port, 5*time.Second)
					if err != nil {
						t.Fatalf("%s: %v", l.listener, err)
					}
					t.Cleanup(func() { c.Close() })
				}
			})
			// Within the read-header timeout (2 s) every accepted connection is still open.
			testutil.WaitFor(t, 10*time.Second, l.listener+" connections over the cap to be refused", func() bool {
				return bootMetric(t, b, "podboot_boot_connections_refused_total", `listener="`+l.listener+`"`, `cap="per_source"`)-before >= n-perSource
			})
			if got := bootMetric(t, b, "podboot_boot_connections_refused_total", `listener="`+l.listener+`"`, `cap="per_source"`) - before; got != n-perSource {
				t.Errorf("%s: %v connections refused, want %d", l.listener, got, n-perSource)
			}
		}
		got := b.torA.Run("sh", "-c", "curl -sf --max-time 20 http://"+bootServer+":8080/boot/pod-nat/"+strings.ReplaceAll(bootMAC, ":", "-")+"/adv-kernel | wc -c")
		if strings.TrimSpace(got) != strconv.Itoa(1<<20) {
			t.Errorf("curl from another source during the hog: %s bytes", got)
		}
	})
}

// bootTrickle sends head one byte every 200 ms, then one more byte each 200 ms, until
// the server closes the connection or max passes; it returns how long the connection
// stayed open.
func bootTrickle(c net.Conn, head string, max time.Duration) time.Duration {
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // a response (405, 408) or nothing; ends when the server closes
		close(closed)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	payload := []byte(head)
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-tick.C:
		}
		if time.Since(start) > max {
			c.Close()
			return time.Since(start)
		}
		b := []byte{'x'}
		if i < len(payload) {
			b = payload[i : i+1]
		}
		if _, err := c.Write(b); err != nil && !errors.Is(err, net.ErrClosed) {
			<-closed
			return time.Since(start)
		}
	}
}
