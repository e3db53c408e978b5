package dhcprelay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeRelay is a relay on loopback: it sends with giaddr = its own address and RFC 8357
// sub-option 19, so the server answers to its (unprivileged) source port.
type fakeRelay struct {
	conn *net.UDPConn
	addr netip.Addr
}

func newFakeRelay(t testing.TB, addr string) *fakeRelay {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeRelay{conn: c, addr: netip.MustParseAddr(addr)}
}

func (r *fakeRelay) send(t testing.TB, to netip.AddrPort, p *dhcpv4.DHCPv4) {
	p.GatewayIPAddr = r.addr.AsSlice()
	p.Options[82] = []byte{1, 4, 'p', 'o', 'r', 't', 19, 0}
	if _, err := r.conn.WriteToUDPAddrPort(p.ToBytes(), to); err != nil {
		t.Fatal(err)
	}
}

// recv waits for a reply until the deadline; nil on timeout.
func (r *fakeRelay) recv(t testing.TB, d time.Duration) *dhcpv4.DHCPv4 {
	buf := make([]byte, 2048)
	r.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := r.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	p, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loopbackPod(name, relay string) podmgr.Pod {
	return podmgr.Pod{
		Name:          name,
		Match:         []podmgr.MatchRule{{Giaddr: relay}},
		Subnets:       []podmgr.Subnet{{CIDR: "127.0.0.0/8", Gateway: relay, LeaseSeconds: 600, RangeStart: "127.1.0.1", RangeEnd: "127.1.255.254"}},
		ServerAddress: "127.0.0.1",
		UnknownHosts:  podmgr.PolicyLease,
	}
}

// startServer runs a server on the env's manager; opts change it before it serves.
func startServer(t *testing.T, e *testEnv, cfg Config, opts ...func(*Server)) (*Server, *prometheus.Registry) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	s, err := New(cfg, e.mgr, reg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return s, reg
}

// TestServeLeaseDurableBeforeAck runs the real server: every ACK the relay receives must
// already be in the store.
func TestServeLeaseDurableBeforeAck(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("lo", "127.0.0.2"))
	s, reg := startServer(t, e, Config{Workers: 4})
	relay := newFakeRelay(t, "127.0.0.2")
	for i := range 20 {
		mac := fmt.Sprintf("52:54:00:01:00:%02x", i)
		relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, mac))
		offer := relay.recv(t, 5*time.Second)
		if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
			t.Fatalf("%s: no offer", mac)
		}
		if got := offer.Options.Get(dhcpv4.OptionRelayAgentInformation); string(got) != "\x01\x04port\x13\x00" {
			t.Fatalf("option 82 not echoed: %x", got)
		}
		relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(offer.YourIPAddr.String()), withServerID("127.0.0.1")))
		ack := relay.recv(t, 5*time.Second)
		if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			t.Fatalf("%s: no ACK", mac)
		}
		var stored []podmgr.Lease
		e.store.View(context.Background(), func(tx podmgr.ReadTx) error { stored, _ = tx.Leases(); return nil })
		found := false
		for _, l := range stored {
			found = found || (l.MAC == mac && l.IP == ack.YourIPAddr.String())
		}
		if !found {
			t.Fatalf("%s: ACK for %s arrived before the lease was stored", mac, ack.YourIPAddr)
		}
	}
	// An ACK is counted once it left, just after the relay may have read it.
	testutil.WaitFor(t, 5*time.Second, "20 ACKs counted", func() bool {
		return packetCount(t, reg, "lo", "127.0.0.2", "request", "ack") == 20
	})
}

func packetCount(t *testing.T, reg *prometheus.Registry, pod, relay, typ, outcome string) float64 {
	t.Helper()
	return metricValue(t, reg, "podboot_dhcp_packets_total", map[string]string{"pod": pod, "relay": relay, "type": typ, "outcome": outcome})
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if l[k] != v {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestFairness: one relay floods far beyond what the server answers while another
// pod's relay asks at a modest rate; the quiet pod still gets >= 99 % answered.
func TestFairness(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("flood", "127.0.0.2"))
	e.pod(loopbackPod("quiet", "127.0.0.3"))
	s, reg := startServer(t, e, Config{Workers: 1, QueueLen: 64})
	flood, quiet := newFakeRelay(t, "127.0.0.2"), newFakeRelay(t, "127.0.0.3")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent atomic.Int64
	for g := range 2 {
		wg.Go(func() {
			p := newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:02:00:00")
			p.GatewayIPAddr = flood.addr.AsSlice()
			p.Options[82] = []byte{19, 0}
			b := p.ToBytes()
			for i := 0; ctx.Err() == nil; i++ {
				b[28+4], b[28+5] = byte(g), byte(i) // vary the MAC
				flood.conn.WriteToUDPAddrPort(b, s.Addr())
				sent.Add(1)
			}
		})
	}
	// Drain the flood's replies so its socket never blocks.
	wg.Go(func() {
		buf := make([]byte, 2048)
		for ctx.Err() == nil {
			flood.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			flood.conn.ReadFromUDPAddrPort(buf)
		}
	})
	const quietN = 200
	answered := 0
	for i := range quietN {
		quiet.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, fmt.Sprintf("52:54:00:03:%02x:%02x", i/256, i%256)))
		if r := quiet.recv(t, time.Second); r != nil && r.MessageType() == dhcpv4.MessageTypeOffer {
			answered++
		}
		time.Sleep(5 * time.Millisecond) // the modest rate of the quiet pod, not synchronisation
	}
	stop()
	wg.Wait()
	shed := dropCount(t, reg, "127.0.0.2", "queue_full")
	t.Logf("flood sent %d, shed %v; quiet answered %d/%d", sent.Load(), shed, answered, quietN)
	if shed == 0 {
		t.Fatalf("the flood was not beyond capacity (nothing shed): the test proves nothing")
	}
	if answered < quietN*99/100 {
		t.Fatalf("quiet pod answered %d/%d (< 99%%) under a flood", answered, quietN)
	}
}

func dropCount(t *testing.T, reg *prometheus.Registry, relay, reason string) float64 {
	return metricValue(t, reg, "podboot_dhcp_dropped_total", map[string]string{"relay": relay, "reason": reason})
}

// TestAckCountedOnlyWhenSent: an ACK whose lease cannot be made durable is withheld, and
// is counted as commit_failed, not as an ACK.
func TestAckCountedOnlyWhenSent(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("lo", "127.0.0.2"))
	s, reg := startServer(t, e, Config{Workers: 1})
	relay := newFakeRelay(t, "127.0.0.2")
	const mac = "52:54:00:01:01:01"
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, mac))
	offer := relay.recv(t, 5*time.Second)
	if offer == nil {
		t.Fatal("no offer")
	}
	if err := e.store.Close(); err != nil { // every commit fails from now on
		t.Fatal(err)
	}
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeRequest, mac, withRequested(offer.YourIPAddr.String()), withServerID("127.0.0.1")))
	testutil.WaitFor(t, 5*time.Second, "the withheld ACK to be counted", func() bool {
		return packetCount(t, reg, "lo", "127.0.0.2", "request", "commit_failed") == 1
	})
	if n := packetCount(t, reg, "lo", "127.0.0.2", "request", "ack"); n != 0 {
		t.Fatalf("ack counter %v for an ACK that was never sent", n)
	}
	if rep := relay.recv(t, 200*time.Millisecond); rep != nil {
		t.Fatalf("got a %s although the lease was not stored", rep.MessageType())
	}
}

// TestOversizeDatagramDropped: a datagram that fills the read buffer was cut; it is
// dropped unparsed and counted, and the next packet is served.
func TestOversizeDatagramDropped(t *testing.T) {
	e := newTestEnv(t)
	e.pod(loopbackPod("lo", "127.0.0.2"))
	s, reg := startServer(t, e, Config{Workers: 1})
	relay := newFakeRelay(t, "127.0.0.2")
	p := newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:01:02:01")
	p.GatewayIPAddr = relay.addr.AsSlice()
	b := p.ToBytes()
	b = append(b[:len(b)-1], bytes.Repeat([]byte{0}, readBufSize)...) // padding past the buffer
	if _, err := relay.conn.WriteToUDPAddrPort(b, s.Addr()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the oversize datagram to be counted", func() bool {
		return dropCount(t, reg, "127.0.0.2", "oversize") == 1
	})
	if rep := relay.recv(t, 200*time.Millisecond); rep != nil {
		t.Fatalf("a cut datagram was answered: %s", rep.MessageType())
	}
	relay.send(t, s.Addr(), newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:01:02:01"))
	if rep := relay.recv(t, 5*time.Second); rep == nil || rep.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatal("no offer after the oversize datagram")
	}
}
