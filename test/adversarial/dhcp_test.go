package adversarial

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
	"golang.org/x/sys/unix"
)

// The DHCP attack topology: pod A's rack (192.0.2.0/24 behind ToR A) holds the attacker;
// pod B's rack (203.0.113.0/24 behind ToR B) holds the victim, whose DHCP is relayed by
// ISC dhcrelay from ToR B's WAN address. Both pods are matched by giaddr alone, as the
// attack found them: anyone who can reach udp/67 can write their giaddr.
const (
	dhcpServer     = "198.51.100.10"
	dhcpAPI        = "127.0.0.1:9443"
	dhcpAttackerIP = "192.0.2.66"
	dhcpVictimMAC  = "52:54:00:0b:00:01"
	dhcpOtherMAC   = "52:54:00:0b:00:02" // a second host of pod B, holding no lease
	dhcpFreeIP     = "203.0.113.140"     // free in pod B's pool
	dhcpPodsYAML   = `name: pod-a
profile: default
serverAddress: 198.51.100.10
unknownHosts: lease
match:
  - giaddr: 192.0.2.1
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    leaseSeconds: 600
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
---
name: pod-b
profile: default
serverAddress: 198.51.100.10
unknownHosts: lease
match:
  - giaddr: 203.0.113.1
subnets:
  - cidr: 203.0.113.0/24
    gateway: 203.0.113.1
    leaseSeconds: 600
    rangeStart: 203.0.113.100
    rangeEnd: 203.0.113.150
`
	// dhcpUdhcpcScript configures the bound address and a default route (a renewal is
	// unicast from it to the server) and records each event's variables in $OUT.EVENT.
	dhcpUdhcpcScript = `#!/bin/sh
case "$1" in
bound) ip addr add "$ip/$mask" dev "$interface"; ip route replace default via "$router"; env > "$OUT.bound" ;;
renew) env > "$OUT.renew" ;;
esac
exit 0
`
)

// dhcpLab is a running podboot with the attack topology.
type dhcpLab struct {
	bin, data, work string
	central         *testutil.NS
	torA, torB      *testutil.ToR
	attacker        *testutil.NS
	serve           *testutil.Proc
}

func dhcpNewLab(t *testing.T) *dhcpLab {
	t.Helper()
	testutil.RequireRoot(t, "dhcrelay", "udhcpc", "curl")
	l := &dhcpLab{bin: testutil.BuildPodboot(t), data: t.TempDir(), work: t.TempDir()}
	tp := testutil.NewTopology(t)
	l.central = tp.Central(dhcpServer + "/24")
	l.torA = tp.ToR(l.central, "a", "198.51.100.2/24", "192.0.2.1/24", dhcpServer)
	l.torB = tp.ToR(l.central, "b", "198.51.100.3/24", "203.0.113.1/24", dhcpServer)
	l.torA.RouteRack("192.0.2.0/24")
	l.torB.RouteRack("203.0.113.0/24") // unicast renewals of pod B
	l.attacker = l.torA.Host("attacker", "52:54:00:0a:00:66")
	l.attacker.Run("ip", "addr", "add", dhcpAttackerIP+"/24", "dev", "eth0")
	l.attacker.Run("ip", "route", "add", "default", "via", "192.0.2.1")

	l.serve = l.central.Start([]string{"PODBOOT_TFTP_ADDR=127.0.0.1:0", "PODBOOT_HTTP_ADDR=127.0.0.1:0", "PODBOOT_HTTPS_ADDR=127.0.0.1:0", "PODBOOT_DHCP_ADDR=:67"},
		l.bin, "serve", "--data-dir", l.data, "--api-addr", dhcpAPI)
	testutil.WaitFor(t, 30*time.Second, "podboot API and DHCP to serve", func() bool {
		if l.serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", l.serve.Output())
		}
		out := l.serve.Output()
		return strings.Contains(out, "podboot serving") && strings.Contains(out, "service=dhcp") && strings.Contains(out, "msg=serving")
	})
	cli := l.central.CLI(l.bin, l.data, dhcpAPI)
	cli.MustRun(t, "profile", "apply", "-f", l.write(t, "profile.yaml", "name: default\n"))
	cli.MustRun(t, "pod", "apply", "-f", l.write(t, "pods.yaml", dhcpPodsYAML))
	cli.MustRun(t, "host", "add", dhcpVictimMAC, "--pod", "pod-b")
	cli.MustRun(t, "host", "add", dhcpOtherMAC, "--pod", "pod-b")
	// ToR A adds option 82 and drops client packets that already carry one (-m
	// discard), as a rack's relay should; it forwards a packet with giaddr set and no
	// option 82 from its own address, which podboot cannot tell from its own (SECURITY.md).
	l.torA.StartRelay(dhcpServer, "-a", "-m", "discard")
	l.torB.StartRelay(dhcpServer)
	return l
}

func (l *dhcpLab) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(l.work, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// dhcpClient is a udhcpc that stays bound (and renews on SIGUSR1).
type dhcpClient struct {
	p   *testutil.Proc
	out string
}

func (l *dhcpLab) startClient(t *testing.T, ns *testutil.NS, name string) *dhcpClient {
	t.Helper()
	script := l.write(t, "udhcpc.sh", dhcpUdhcpcScript)
	out := filepath.Join(l.work, name)
	p := ns.Start(nil, "env", "OUT="+out, "udhcpc", "-i", "eth0", "-f", "-t", "5", "-T", "2", "-A", "1", "-s", script)
	return &dhcpClient{p: p, out: out}
}

// wait waits for the record of event (bound, renew) and returns its variables.
func (c *dhcpClient) wait(t *testing.T, event string, timeout time.Duration) map[string]string {
	t.Helper()
	var b []byte
	testutil.WaitFor(t, timeout, "udhcpc "+event, func() bool {
		if c.p.Exited() {
			t.Fatalf("udhcpc exited:\n%s", c.p.Output())
		}
		var err error
		b, err = os.ReadFile(c.out + "." + event)
		return err == nil && len(b) > 0
	})
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// renew makes udhcpc renew at once (a REQUEST unicast from its address) and returns the
// renewed lease.
func (c *dhcpClient) renew(t *testing.T) map[string]string {
	t.Helper()
	os.Remove(c.out + ".renew")
	if err := c.p.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	return c.wait(t, "renew", 20*time.Second)
}

// metrics is the value of every sample of name in /metrics, by its label text.
func (l *dhcpLab) metrics(t *testing.T, name string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := l.central.Cmd(ctx, "curl", "-sfk", "https://"+dhcpAPI+"/metrics").Output()
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	out := map[string]float64{}
	re := regexp.MustCompile(`^` + name + `(\{.*\})? (\S+)$`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}

// metric is the sum of the samples of name whose labels include every one of labels
// (`key="value"`).
func (l *dhcpLab) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
sample:
	for ls, v := range l.metrics(t, name) {
		for _, want := range labels {
			if !strings.Contains(ls, want) {
				continue sample
			}
		}
		sum += v
	}
	return sum
}

// dhcpListenIn opens a UDP socket on port inside ns: the test sends from there, as a
// program on that host would, without a helper binary.
func dhcpListenIn(t *testing.T, ns *testutil.NS, port int) *net.UDPConn {
	t.Helper()
	target, err := os.Open("/var/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter %s: %v", ns.Name, err)
	}
	conn, lerr := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is in the wrong namespace: leave it locked, so that it ends with
		// this goroutine instead of running other code.
		t.Fatalf("back from %s: %v", ns.Name, err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		t.Fatalf("listen in %s: %v", ns.Name, lerr)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dhcpPacket is a client's packet (giaddr 0 unless an option sets it).
func dhcpPacket(t *testing.T, mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func dhcpSend(t *testing.T, conn *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := conn.WriteToUDPAddrPort(b, netip.AddrPortFrom(netip.MustParseAddr(dhcpServer), 67)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// dhcpLeases are the leases in the store of a stopped serve.
func dhcpLeases(t *testing.T, data string) []podmgr.Lease {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(data, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var leases []podmgr.Lease
	if err := st.View(context.Background(), func(tx podmgr.ReadTx) error {
		var err error
		leases, err = tx.Leases()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return leases
}

// TestDHCPAttacks attacks one running podboot, from a host on pod A's rack, the way the
// attacks of issue 10 did, and checks that pod B's real client keeps being served.
func TestDHCPAttacks(t *testing.T) {
	l := dhcpNewLab(t)
	victim := l.startClient(t, l.torB.Host("victim", dhcpVictimMAC), "victim")
	bound := victim.wait(t, "bound", 30*time.Second)
	victimIP := bound["ip"]
	if !strings.HasPrefix(victimIP, "203.0.113.") {
		t.Fatalf("victim bound %v", bound)
	}
	attacker := dhcpListenIn(t, l.attacker, 68)

	t.Run("unicast hijack from another rack", func(t *testing.T) {
		ciaddr := func(a string) dhcpv4.Modifier { return dhcpv4.WithClientIP(net.ParseIP(a)) }
		requested := func(a string) dhcpv4.Modifier { return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(a))) }
		attacks := []struct {
			name   string
			pkt    *dhcpv4.DHCPv4
			reason string
		}{
			{"REQUEST moving the victim to a free address", dhcpPacket(t, dhcpv4.MessageTypeRequest, dhcpVictimMAC, ciaddr(dhcpFreeIP)), "source_not_ciaddr"},
			{"REQUEST for the attacker's own address", dhcpPacket(t, dhcpv4.MessageTypeRequest, dhcpVictimMAC, ciaddr(dhcpAttackerIP)), "not_leased"},
			{"RELEASE of the victim's address", dhcpPacket(t, dhcpv4.MessageTypeRelease, dhcpVictimMAC, ciaddr(victimIP)), "source_not_ciaddr"},
			{"DECLINE of the victim's address", dhcpPacket(t, dhcpv4.MessageTypeDecline, dhcpVictimMAC, ciaddr(victimIP), requested(victimIP)), "source_not_ciaddr"},
			{"INFORM as the victim", dhcpPacket(t, dhcpv4.MessageTypeInform, dhcpVictimMAC, ciaddr(victimIP)), "source_not_ciaddr"},
			{"REQUEST giving the victim's address to another MAC", dhcpPacket(t, dhcpv4.MessageTypeRequest, dhcpOtherMAC, ciaddr(victimIP)), "source_not_ciaddr"},
			{"REQUEST of another MAC from the attacker's address", dhcpPacket(t, dhcpv4.MessageTypeRequest, dhcpOtherMAC, ciaddr(dhcpAttackerIP), requested(victimIP)), "not_leased"},
		}
		want := map[string]float64{}
		for _, a := range attacks {
			dhcpSend(t, attacker, a.pkt.ToBytes())
			want[a.reason]++
		}
		testutil.WaitFor(t, 10*time.Second, "the attacks to be refused", func() bool {
			return l.metric(t, "podboot_dhcp_refused_total", `pod="pod-b"`) >= float64(len(attacks))
		})
		for reason, n := range want {
			if got := l.metric(t, "podboot_dhcp_refused_total", `pod="pod-b"`, `reason="`+reason+`"`); got != n {
				t.Errorf("refused{pod-b, %s} = %v, want %v", reason, got, n)
			}
		}
		// Nothing answered the attacker (an ACK to ciaddr = its own address would be here).
		attacker.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 1500)
		if n, from, err := attacker.ReadFromUDPAddrPort(buf); err == nil {
			t.Errorf("the attacker got a %d-byte answer from %s", n, from)
		}
		// The real client renews by unicast and keeps its address.
		if renewed := victim.renew(t); renewed["ip"] != victimIP {
			t.Fatalf("victim renewed %v, want %s", renewed, victimIP)
		}
	})

	t.Run("relayed packets forged by a rack host", func(t *testing.T) {
		// The attacker writes pod B's giaddr and option 82, as a relay would, and sends
		// from its own address on pod A's rack, routed by ToR A straight to podboot (ToR
		// A's relay drops its copy: it carries option 82). A relay never sends from a
		// host's address.
		giaddrB := dhcpv4.WithGatewayIP(net.ParseIP("203.0.113.1"))
		relayed := func(mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
			mods = append([]dhcpv4.Modifier{giaddrB,
				dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 6, 'r', 'a', 'c', 'k', '-', 'b'})}, mods...)
			p := dhcpPacket(t, mt, dhcpVictimMAC, mods...)
			p.HopCount = 1
			return p
		}
		attacks := []*dhcpv4.DHCPv4{
			relayed(dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.ParseIP(victimIP))),
			relayed(dhcpv4.MessageTypeDecline, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(victimIP)))),
			relayed(dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(dhcpFreeIP)))),
			relayed(dhcpv4.MessageTypeDiscover),
		}
		before := l.metric(t, "podboot_dhcp_refused_total", `pod="pod-b"`, `reason="relayed_by_host"`)
		for _, p := range attacks {
			dhcpSend(t, attacker, p.ToBytes())
		}
		testutil.WaitFor(t, 10*time.Second, "the forged relayed packets to be refused", func() bool {
			return l.metric(t, "podboot_dhcp_refused_total", `pod="pod-b"`, `reason="relayed_by_host"`)-before >= float64(len(attacks))
		})
		if got := l.metric(t, "podboot_dhcp_refused_total", `pod="pod-b"`, `reason="relayed_by_host"`) - before; got != float64(len(attacks)) {
			t.Errorf("refused{pod-b, relayed_by_host} rose by %v, want %d", got, len(attacks))
		}
		// The victim still holds its address: it renews by unicast and keeps it.
		if renewed := victim.renew(t); renewed["ip"] != victimIP {
			t.Fatalf("victim renewed %v, want %s", renewed, victimIP)
		}
	})

	t.Run("malformed and overlong packets", func(t *testing.T) {
		valid := dhcpPacket(t, dhcpv4.MessageTypeDiscover, "52:54:00:0a:00:77", dhcpv4.WithGatewayIP(net.ParseIP("192.0.2.1"))).ToBytes()
		header := valid[:240] // fixed header and magic cookie
		overrun := append(append([]byte{}, header...), 53, 1, 1, 12, 200, 'h', 'o', 's', 't')
		hops := append([]byte{}, valid...)
		hops[3] = 17
		truncated82 := dhcpPacket(t, dhcpv4.MessageTypeDiscover, "52:54:00:0a:00:78", dhcpv4.WithGatewayIP(net.ParseIP("192.0.2.1")),
			dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, append([]byte{1, 250}, make([]byte, 200)...))).ToBytes()
		// 4 KiB of option 43 in 255-byte pieces (RFC 3396), past the read buffer.
		huge := append([]byte{}, header...)
		huge = append(huge, 53, 1, 1)
		for range 20 {
			huge = append(huge, 43, 255)
			huge = append(huge, make([]byte, 255)...)
		}
		huge = append(huge, 255)
		cases := []struct {
			name, reason string
			b            []byte
		}{
			{"truncated header", "malformed", valid[:100]},
			{"option overrunning the packet", "malformed", overrun},
			{"hops 17", "hops", hops},
			{"option 82 sub-option overrunning", "malformed_option82", truncated82},
			{"larger than the read buffer", "oversize", huge},
		}
		before := map[string]float64{}
		for _, c := range cases {
			before[c.reason] = l.metric(t, "podboot_dhcp_dropped_total", `relay="`+dhcpAttackerIP+`"`, `reason="`+c.reason+`"`)
		}
		want := map[string]float64{}
		for _, c := range cases {
			dhcpSend(t, attacker, c.b)
			want[c.reason]++
		}
		testutil.WaitFor(t, 10*time.Second, "the malformed packets to be counted", func() bool {
			return l.metric(t, "podboot_dhcp_dropped_total", `relay="`+dhcpAttackerIP+`"`) >= float64(len(cases))
		})
		for reason, n := range want {
			if got := l.metric(t, "podboot_dhcp_dropped_total", `relay="`+dhcpAttackerIP+`"`, `reason="`+reason+`"`) - before[reason]; got != n {
				t.Errorf("dropped{%s} = %v, want %v", reason, got, n)
			}
		}
		// A huge but well-formed option 82 on a relayed DISCOVER is answered (echoed)
		// within the client's size, or not at all: the server stays up either way.
		big82 := dhcpPacket(t, dhcpv4.MessageTypeDiscover, "52:54:00:0a:00:79", dhcpv4.WithGatewayIP(net.ParseIP("192.0.2.1")),
			dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, append([]byte{1, 255}, make([]byte, 255)...)))
		dhcpSend(t, attacker, big82.ToBytes())
		c := l.startClient(t, l.torB.Host("after-malformed", "52:54:00:0b:00:10"), "after-malformed")
		if v := c.wait(t, "bound", 30*time.Second); !strings.HasPrefix(v["ip"], "203.0.113.") {
			t.Fatalf("a client after the malformed packets: %v", v)
		}
	})

	t.Run("one relay flooding does not starve another", func(t *testing.T) {
		// The attacker claims pod A's giaddr and floods DISCOVERs of ever new MACs from
		// its own address: each is read, queued, resolved and refused (relayed_by_host).
		ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
		defer stop()
		var sent atomic.Int64
		var wg sync.WaitGroup
		for g := range 2 {
			wg.Go(func() {
				p := dhcpPacket(t, dhcpv4.MessageTypeDiscover, "52:54:00:f0:00:00", dhcpv4.WithGatewayIP(net.ParseIP("192.0.2.1")))
				p.HopCount = 1
				b := p.ToBytes()
				to := netip.AddrPortFrom(netip.MustParseAddr(dhcpServer), 67)
				for i := uint32(0); ctx.Err() == nil && i < 2_000_000; i++ {
					binary.BigEndian.PutUint32(b[28+2:], i<<1|uint32(g)) // chaddr bytes 2-5
					if _, err := attacker.WriteToUDPAddrPort(b, to); err == nil {
						sent.Add(1)
					}
				}
			})
		}
		// The client starts once the flood has been at the server for a while.
		attackerLoad := func() (handled, shed float64) {
			return l.metric(t, "podboot_dhcp_packets_total", `relay="`+dhcpAttackerIP+`"`),
				l.metric(t, "podboot_dhcp_dropped_total", `relay="`+dhcpAttackerIP+`"`, `reason="queue_full"`)
		}
		handled0, shed0 := attackerLoad()
		testutil.WaitFor(t, 15*time.Second, "the flood to load the server", func() bool {
			h, s := attackerLoad()
			return h+s-handled0-shed0 >= 10000
		})
		start := time.Now()
		c := l.startClient(t, l.torB.Host("during-flood", "52:54:00:0b:00:11"), "during-flood")
		v := c.wait(t, "bound", 15*time.Second)
		took := time.Since(start)
		stop()
		wg.Wait()
		if !strings.HasPrefix(v["ip"], "203.0.113.") {
			t.Fatalf("pod B's client during the flood: %v", v)
		}
		handled, shed := attackerLoad()
		t.Logf("flood: %d sent, %.0f handled, %.0f shed (queue_full); pod B's client bound in %s", sent.Load(), handled-handled0, shed-shed0, took.Round(time.Millisecond))
	})

	// After every attack: the store holds one lease per address, the victim's is its
	// own and the victim holds no other.
	if err := l.serve.Stop(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	seen := map[string]string{}
	for _, le := range dhcpLeases(t, l.data) {
		if le.Pod != "pod-b" || le.Declined {
			continue
		}
		key := le.IP
		if other, ok := seen[key]; ok && other != le.MAC {
			t.Errorf("address %s leased to %s and %s", le.IP, other, le.MAC)
		}
		seen[key] = le.MAC
		if le.MAC == dhcpVictimMAC && le.IP != victimIP {
			t.Errorf("the victim also holds %s (its address is %s)", le.IP, victimIP)
		}
		if le.IP == victimIP && le.MAC != dhcpVictimMAC {
			t.Errorf("the victim's address %s is leased to %s", victimIP, le.MAC)
		}
	}
	if seen[victimIP] != dhcpVictimMAC {
		t.Errorf("the victim's lease of %s is not in the store: %v", victimIP, seen)
	}
}
