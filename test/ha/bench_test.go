//go:build habench

package ha

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestBenchFailover (bench/ha/run.sh) kills the owner of p1 HA_KILLS times (default 20)
// under perfdhcp load and prints p50 and p99 of the time from SIGKILL to the first ACK
// for p1 from another replica, then the ACK rate the three replicas sustained.
func TestBenchFailover(t *testing.T) {
	kills := 20
	if v, err := strconv.Atoi(os.Getenv("HA_KILLS")); err == nil && v > 0 {
		kills = v
	}
	c := newCluster(t)
	perf := c.startTraffic()
	p1 := c.pods[0]
	var took []time.Duration
	for k := 1; k <= kills; k++ {
		c.allOwned(60 * time.Second)
		victim := c.node(c.owner(p1.name))
		killed := time.Now()
		if err := victim.proc.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var acked time.Time
		waitUntil(t, 60*time.Second, func() bool { acked = c.firstAck(p1, killed, victim.addr); return !acked.IsZero() })
		took = append(took, acked.Sub(killed))
		fmt.Printf("kill %2d: %s owned p1; first ACK from another replica after %s\n", k, victim.name, acked.Sub(killed).Round(10*time.Millisecond))
		c.start(victim)
	}
	for _, p := range perf {
		p.Stop()
	}
	slices.Sort(took)
	q := func(f float64) time.Duration { return took[min(len(took)-1, int(f*float64(len(took))))] }
	fmt.Printf("failover SIGKILL -> first ACK over %d kills (ttl %s, confirm delay 1s): p50 %s  p99 %s  max %s\n",
		len(took), ttl, q(0.50).Round(10*time.Millisecond), q(0.99).Round(10*time.Millisecond), took[len(took)-1].Round(10*time.Millisecond))
	c.checkAcks()
}

// waitUntil polls cond every 50ms until it holds or timeout passes (then fails).
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no ACK after %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = dhcpv4.MessageTypeAck
