package dhcprelay

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestRelayWatchBoundedLRU: the watch keeps at most its cap of relays, forgets the least
// recently heard first, and a relay heard again is kept.
func TestRelayWatchBoundedLRU(t *testing.T) {
	w := newRelayWatch(3)
	t0 := time.Now()
	hear := func(i int, at time.Duration) {
		src := netip.MustParseAddrPort(fmt.Sprintf("198.51.100.%d:67", i))
		w.observe(t0.Add(at), src, 67, false, podmgr.MatchKeys{Giaddr: netip.MustParseAddr("192.0.2.1")}, false, "", "no_pod")
	}
	for i := 1; i <= 3; i++ {
		hear(i, time.Duration(i)*time.Second)
	}
	hear(1, 4*time.Second) // 1 is now the most recent; 2 the least
	hear(4, 5*time.Second) // evicts 2
	got := w.snapshot(time.Time{})
	var srcs []string
	for _, s := range got {
		srcs = append(srcs, s.Source)
	}
	want := []string{"198.51.100.4", "198.51.100.1", "198.51.100.3"}
	if fmt.Sprint(srcs) != fmt.Sprint(want) {
		t.Fatalf("relays kept, most recent first: %v, want %v", srcs, want)
	}
	if got[1].Packets != 2 || got[1].Outcomes["no_pod"] != 2 {
		t.Errorf("relay 1 counts: %+v", got[1])
	}
	if n := len(w.snapshot(t0.Add(4 * time.Second))); n != 2 {
		t.Errorf("relays heard since t0+4s: %d, want 2", n)
	}
	if len(w.m) != 3 || w.lru.Len() != 3 {
		t.Errorf("map %d, list %d entries: want 3", len(w.m), w.lru.Len())
	}
}

// TestRelayWatchSeesOutcomes: the handler records each relayed packet's relay, option 82
// and outcome: an answered one under its pod, one from an unknown giaddr as no_pod.
func TestRelayWatchSeesOutcomes(t *testing.T) {
	e := newTestEnv(t)
	e.pod(stdPod("a", relayA, podmgr.PolicyLease))
	h := e.handler(Config{})
	do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01"), peerOf(relayA, 67))
	do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, "52:54:00:00:00:02", withGiaddr("203.0.113.77")), peerOf("203.0.113.77", 67))
	seen := map[string]RelaySeen{}
	for _, s := range h.watch.snapshot(time.Time{}) {
		seen[s.Source] = s
	}
	if s := seen[relayA]; s.Pod != "a" || s.Giaddr != rackGW || s.Outcomes["offer"] != 1 || s.ServerPort != 67 {
		t.Errorf("pod a's relay: %+v", s)
	}
	if s := seen["203.0.113.77"]; s.Pod != "" || s.Outcomes["no_pod"] != 1 || s.Giaddr != "203.0.113.77" {
		t.Errorf("unknown relay: %+v", s)
	}
}

// BenchmarkRelayWatchObserve is the relay watch's cost per relayed packet: one known
// relay (the common case), serially and from parallel workers.
func BenchmarkRelayWatchObserve(b *testing.B) {
	w := newRelayWatch(0)
	peer := netip.MustParseAddrPort("198.51.100.2:67")
	k := podmgr.MatchKeys{Giaddr: netip.MustParseAddr("192.0.2.1"), CircuitID: "rack-a"}
	now := time.Now()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.observe(now, peer, 67, false, k, true, "pod-a", "offer")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w.observe(now, peer, 67, false, k, true, "pod-a", "offer")
			}
		})
	})
}
