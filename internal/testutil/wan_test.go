package testutil

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestWANLink measures the emulated link with ping: the RTT is twice the one-way delay
// (plus little), and the loss of both directions together is about twice the loss of
// one; a link set down loses everything.
func TestWANLink(t *testing.T) {
	RequireRoot(t, "ping")
	tp := NewTopology(t)
	a, b := tp.Namespace("wan-a"), tp.Namespace("wan-b")
	w := tp.WANLink(a, "ta", b, "tb", WANConfig{Delay: 50 * time.Millisecond, Loss: 0.01})
	a.Run("ip", "addr", "add", "198.51.100.1/24", "dev", "ta")
	b.Run("ip", "addr", "add", "198.51.100.2/24", "dev", "tb")
	out := a.Run("ping", "-q", "-c", "1000", "-i", "0.002", "-W", "1", "198.51.100.2")
	m := regexp.MustCompile(`(\d+) received.*?([\d.]+)% packet loss[\s\S]*= ([\d.]+)/([\d.]+)/([\d.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping output:\n%s", out)
	}
	loss, _ := strconv.ParseFloat(m[2], 64)
	rttMin, _ := strconv.ParseFloat(m[3], 64)
	rttAvg, _ := strconv.ParseFloat(m[4], 64)
	t.Logf("RTT min/avg %.1f/%.1f ms, loss %.1f %% (dropped %d/%d frames a→b/b→a)", rttMin, rttAvg, loss, w.Dropped[0].Load(), w.Dropped[1].Load())
	if rttMin < 100 || rttAvg > 115 {
		t.Errorf("RTT min/avg %.1f/%.1f ms, want about 100", rttMin, rttAvg)
	}
	if loss < 0.5 || loss > 5 {
		t.Errorf("loss %.1f %%, want about 2 %% (1 %% each way)", loss)
	}
	w.SetDown(true)
	if out, err := a.Cmd(t.Context(), "ping", "-q", "-c", "3", "-i", "0.2", "-W", "1", "198.51.100.2").CombinedOutput(); err == nil {
		t.Errorf("ping through a link set down succeeded:\n%s", out)
	}
	w.SetDown(false)
	a.Run("ping", "-q", "-c", "5", "-i", "0.2", "-W", "2", "198.51.100.2") // succeeds on any reply (1 % loss each way)
}
