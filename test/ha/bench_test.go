//go:build habench

package ha

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/podboot/podboot/internal/testutil"
)

// TestBenchFailover (bench/ha/run.sh) kills the owner of p1 HA_KILLS times (default 20)
// under perfdhcp load and prints p50 and p99 of the time from SIGKILL to the first ACK
// for p1 from another replica, then the ACK rate the three replicas sustained.
func TestBenchFailover(t *testing.T) {
	kills := envInt("HA_KILLS", 20)
	c := newNetwork(t, true)
	c.ttl = ttl
	if d, err := time.ParseDuration(os.Getenv("HA_TTL")); err == nil {
		c.ttl = d
	}
	c.startReplicas()
	perf := c.startTraffic()
	p1 := c.pods[0]
	var took []time.Duration
	for k := 1; k <= kills; k++ {
		c.allOwned(60 * time.Second)
		victim := c.ownerNode(p1.name)
		killed := time.Now()
		if err := victim.proc.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var acked time.Time
		testutil.WaitFor(t, 60*time.Second, "p1 ACKed by another replica", func() bool {
			acked = c.firstAck(p1, killed, victim.addr)
			return !acked.IsZero()
		})
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
		len(took), c.ttl, q(0.50).Round(10*time.Millisecond), q(0.99).Round(10*time.Millisecond), took[len(took)-1].Round(10*time.Millisecond))
	c.checkAcks()
}

// TestBenchRate (bench/ha/run.sh) offers the same perfdhcp load (HA_RATE exchanges/s per
// pod, default 300, for HA_PERIOD seconds, default 10, three pods at once) to three
// replicas on a 3-member etcd, to one replica on bbolt and to Kea (memfile, persist),
// each behind the same relays, and prints the ACKs per second each sustained and the
// ratios.
func TestBenchRate(t *testing.T) {
	rate, period := envInt("HA_RATE", 300), envInt("HA_PERIOD", 10)
	got := map[string]float64{}
	t.Run("replicas", func(t *testing.T) {
		c := newCluster(t)
		got["3 replicas, etcd x3"] = c.ackRate(rate, period)
	})
	t.Run("bbolt", func(t *testing.T) {
		c := newNetwork(t, false)
		c.startFirst()
		got["1 replica, bbolt"] = c.ackRate(rate, period)
	})
	t.Run("kea", func(t *testing.T) {
		c := newNetwork(t, false)
		c.startKea()
		got["kea, memfile persist"] = c.ackRate(rate, period)
	})
	fmt.Printf("offered %d exchanges/s per pod x 3 pods for %ds (%d cores, load %s):\n", rate, period, runtime.NumCPU(), loadavg())
	for _, k := range []string{"3 replicas, etcd x3", "1 replica, bbolt", "kea, memfile persist"} {
		fmt.Printf("  %-22s %8.0f ACKs/s\n", k, got[k])
	}
	if kea := got["kea, memfile persist"]; kea > 0 {
		fmt.Printf("  ratio replicas/kea = %.2f, bbolt/kea = %.2f, replicas/bbolt = %.2f\n",
			got["3 replicas, etcd x3"]/kea, got["1 replica, bbolt"]/kea, got["3 replicas, etcd x3"]/max(got["1 replica, bbolt"], 1))
	}
}

// ackRate runs perfdhcp on every pod at once and returns the ACKs per second the
// servers sent, counted at the relays.
func (c *cluster) ackRate(rate, period int) float64 {
	perf := c.startLoad(rate, period)
	for _, p := range perf {
		testutil.WaitFor(c.t, time.Duration(period+60)*time.Second, "perfdhcp to finish", p.Exited)
	}
	acks := 0
	for _, p := range c.pods {
		for _, r := range c.replies(p) {
			if r.typ == dhcpv4.MessageTypeAck {
				acks++
			}
		}
	}
	return float64(acks) / float64(period)
}

// startKea runs kea-dhcp4 in r1's namespace with the pods' subnets.
func (c *cluster) startKea() {
	dir := c.t.TempDir()
	var subnets []string
	for i, p := range c.pods {
		start, end, _ := strings.Cut(p.rng, "-")
		subnets = append(subnets, fmt.Sprintf(`{"id": %d, "subnet": %q, "pools": [{"pool": "%s - %s"}], "relay": {"ip-addresses": [%q]}}`,
			i+1, p.subnet, start, end, p.perfAddr))
	}
	conf := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": ["eth0"], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 600,
  "multi-threading": {"enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64},
  "subnet4": [%s],
  "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "stdout"}]}]
}}`, filepath.Join(dir, "leases.csv"), strings.Join(subnets, ","))
	cfg := writeFile(c.t, "kea.json", conf)
	k := c.nodes[0].ns.Start([]string{"KEA_PIDFILE_DIR=" + dir, "KEA_LOCKFILE_DIR=none"}, "kea-dhcp4", "-c", cfg)
	testutil.WaitFor(c.t, 30*time.Second, "kea to start", func() bool {
		return strings.Contains(k.Output(), "DHCP4_STARTED") || k.Exited()
	})
	if k.Exited() {
		c.t.Fatalf("kea-dhcp4 exited: %s", k.Output())
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
