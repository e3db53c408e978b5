package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/replica"
)

const (
	prefix = "/ha/"
	// failoverLimit is what a test run allows from SIGKILL to the first ACK for the dead
	// replica's pod: the 10 s target (docs/ha.md) plus slack for a loaded 2-core machine.
	failoverLimit = 20 * time.Second
	ttl           = replica.DefaultTTL
)

// node is one replica: its namespace on the central bridge, its data dir, its
// forwarders to the etcd members (which run in the test process) and its process.
type node struct {
	name, addr, data string
	ns               *testutil.NS
	fwd              []*testutil.Forward
	proc             *testutil.Proc
	cli              *testutil.CLI
}

// pod is one pod behind its own ToR and relay, with perfdhcp in a rack host. perfdhcp
// always acts as a relay itself (it sets giaddr to its own address, perfAddr, which the
// pod matches); the ToR's dhcrelay forwards its packets to the three replicas.
type pod struct {
	name, torAddr, perfAddr, subnet, rng string
	clients                              int // perfdhcp's distinct MACs
	tor                                  *testutil.ToR
	capture                              string
}

type cluster struct {
	t     *testing.T
	bin   string
	etcd  *testutil.EtcdCluster
	nodes []*node
	pods  []*pod
	// ttl, when set, is the replicas' --replica-ttl (bench/ha's HA_TTL).
	ttl time.Duration
	// boot, when set, are extra serve arguments, and the replicas serve TFTP, HTTP and
	// HTTPS on their own address (advertised) for real hosts, and their API there for
	// peers (provision_test.go).
	boot []string
}

func (c *cluster) endpoints() string {
	var eps []string
	for i := range c.etcd.Endpoints() {
		eps = append(eps, fmt.Sprintf("http://127.0.0.1:%d", 12379+i))
	}
	return strings.Join(eps, ",")
}

// start runs `podboot serve` in the node's namespace: a replica on etcd, or alone on
// bbolt when the cluster has no etcd.
func (c *cluster) start(n *node) {
	c.t.Helper()
	env := []string{"PODBOOT_DHCP_ADDR=" + n.addr + ":67", "PODBOOT_TFTP_ADDR=127.0.0.1:0", "PODBOOT_HTTP_ADDR=127.0.0.1:0", "PODBOOT_HTTPS_ADDR=127.0.0.1:0"}
	args := []string{"serve", "--data-dir", n.data, "--api-addr", "127.0.0.1:9443", "--log-level", "warn"}
	if c.boot != nil {
		env = []string{"PODBOOT_DHCP_ADDR=" + n.addr + ":67", "PODBOOT_TFTP_ADDR=" + n.addr + ":69", "PODBOOT_HTTP_ADDR=" + n.addr + ":8080", "PODBOOT_HTTPS_ADDR=" + n.addr + ":8443"}
		// The API on every address too: peers pull blobs from the advertised API URL.
		args = append(append(args, "--api-addr", ":9443", "--advertise-api", "https://"+n.addr+":9443", "--advertise-https", "https://"+n.addr+":8443"), c.boot...)
	}
	if c.etcd != nil {
		args = append(args, "--store", "etcd", "--etcd-endpoints", c.endpoints(), "--etcd-prefix", prefix, "--replica-name", n.name, "--advertise-dhcp", n.addr)
		if c.ttl != 0 {
			args = append(args, "--replica-ttl", c.ttl.String())
		}
	}
	n.proc = n.ns.Start(env, append([]string{c.bin}, args...)...)
}

// waitUp waits until the node's API answers replica list and it counts every live node.
func (c *cluster) waitUp(n *node, live int) {
	c.t.Helper()
	testutil.WaitFor(c.t, 60*time.Second, n.name+" to serve and see the others", func() bool {
		if n.proc.Exited() {
			c.t.Fatalf("%s exited: %s", n.name, n.proc.Output())
		}
		st, err := c.status(n)
		return err == nil && len(st.Members) == live
	})
}

func (c *cluster) status(n *node) (replica.Status, error) {
	var st replica.Status
	out, _, err := n.cli.Run(context.Background(), "replica", "list", "-o", "json")
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// owner asks a live node which replica owns pod ("" while none does).
func (c *cluster) owner(pod string) string {
	for _, n := range c.nodes {
		if n.proc.Exited() {
			continue
		}
		st, err := c.status(n)
		if err != nil {
			continue
		}
		for _, m := range st.Members {
			for _, p := range m.Pods {
				if p == pod {
					return m.Name
				}
			}
		}
		return ""
	}
	return ""
}

// ownerNode waits until pod is owned by the replica the hash gives it with all three
// live (a pod moving back to a restarted replica is briefly unowned, then owned by the
// restarted one), and returns that replica: a kill then measures a failover, not the
// end of a handover.
func (c *cluster) ownerNode(pod string) *node {
	c.t.Helper()
	var names []string
	for _, n := range c.nodes {
		names = append(names, n.name)
	}
	want := replica.Rendezvous(pod, names)
	testutil.WaitFor(c.t, 30*time.Second, pod+" to be owned by "+want, func() bool { return c.owner(pod) == want })
	return c.node(want)
}

func (c *cluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no replica %s", name)
	return nil
}

// allOwned waits until every pod has an owner and every node is live.
func (c *cluster) allOwned(timeout time.Duration) {
	c.t.Helper()
	testutil.WaitFor(c.t, timeout, "every pod owned, three replicas live", func() bool {
		st, err := c.status(c.nodes[0])
		return err == nil && len(st.Unowned) == 0 && len(st.Members) == 3
	})
}

func (c *cluster) replies(p *pod) []reply {
	c.t.Helper()
	rs, err := readReplies(p.capture)
	if err != nil {
		c.t.Fatalf("read capture of %s: %v", p.name, err)
	}
	return rs
}

// firstAck is the time of the first ACK for p after since from a replica other than
// not; zero when there is none yet.
func (c *cluster) firstAck(p *pod, since time.Time, not string) time.Time {
	for _, r := range c.replies(p) {
		if r.typ == dhcpv4.MessageTypeAck && r.at.After(since) && r.from.String() != not {
			return r.at
		}
	}
	return time.Time{}
}

func newCluster(t *testing.T) *cluster {
	c := newNetwork(t, true)
	c.startReplicas()
	return c
}

// newNetwork builds the namespaces: central bridge, a ToR per pod, three replica
// namespaces (with forwarders to the etcd members when withEtcd). Nothing runs yet.
func newNetwork(t *testing.T, withEtcd bool) *cluster {
	testutil.RequireRoot(t, "dhcrelay", "perfdhcp", "tcpdump")
	c := &cluster{t: t, bin: testutil.BuildPodboot(t)}
	if withEtcd {
		c.etcd = testutil.StartEtcd(t, 3)
	}
	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.1/24")
	c.pods = []*pod{
		{name: "p1", torAddr: "192.0.2.1", perfAddr: "192.0.2.126", subnet: "192.0.2.0/25", rng: "192.0.2.10-192.0.2.120", clients: 100},
		{name: "p2", torAddr: "192.0.2.129", perfAddr: "192.0.2.254", subnet: "192.0.2.128/25", rng: "192.0.2.140-192.0.2.250", clients: 100},
		{name: "p3", torAddr: "203.0.113.1", perfAddr: "203.0.113.254", subnet: "203.0.113.0/24", rng: "203.0.113.10-203.0.113.250", clients: 220},
	}
	for i, p := range c.pods {
		plen := strings.Split(p.subnet, "/")[1]
		p.tor = tp.ToR(central, p.name, fmt.Sprintf("198.51.100.%d/24", 2+i), p.torAddr+"/"+plen, "198.51.100.1")
	}
	for i := range 3 {
		n := &node{name: fmt.Sprintf("r%d", i+1), addr: fmt.Sprintf("198.51.100.%d", 11+i), data: t.TempDir()}
		n.ns = tp.Namespace(n.name)
		peer := fmt.Sprintf("v%s%d", n.name, i)
		central.Run("ip", "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", n.ns.Name)
		central.Run("ip", "link", "set", peer, "master", "wan0", "up")
		n.ns.Run("ip", "addr", "add", n.addr+"/24", "dev", "eth0")
		n.ns.Run("ip", "link", "set", "eth0", "up")
		for j, p := range c.pods {
			n.ns.Run("ip", "route", "add", p.subnet, "via", fmt.Sprintf("198.51.100.%d", 2+j))
		}
		if withEtcd {
			for j, ep := range c.etcd.Endpoints() {
				n.fwd = append(n.fwd, n.ns.Forward(fmt.Sprintf("127.0.0.1:%d", 12379+j), strings.TrimPrefix(ep, "http://")))
			}
		}
		c.nodes = append(c.nodes, n)
	}
	return c
}

// startFirst starts r1, waits for its admin token and registers the pods through it.
func (c *cluster) startFirst() {
	t := c.t
	r1 := c.nodes[0]
	c.start(r1)
	r1.cli = r1.ns.CLI(c.bin, r1.data, "127.0.0.1:9443")
	testutil.WaitFor(t, 60*time.Second, "r1 to serve", func() bool {
		_, _, err := r1.cli.Run(context.Background(), "pod", "list")
		return err == nil
	})
	r1.cli.MustRun(t, "profile", "apply", "-f", writeFile(t, "profile.yaml", "name: default\n"))
	for _, p := range c.pods {
		r1.cli.MustRun(t, "pod", "register", p.name, "--giaddr", p.perfAddr, "--subnet", p.subnet, "--gateway", p.torAddr,
			"--server-address", "198.51.100.11", "--profile", "default", "--unknown-hosts", "lease", "--range", p.rng)
	}
}

// startReplicas starts the three replicas on etcd: r1 first, which writes the admin
// token; the others find tokens in etcd and write none, so they get r1's.
func (c *cluster) startReplicas() {
	t := c.t
	c.startFirst()
	tok, err := os.ReadFile(filepath.Join(c.nodes[0].data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes[1:] {
		if err := os.WriteFile(filepath.Join(n.data, "admin.token"), tok, 0o600); err != nil {
			t.Fatal(err)
		}
		c.start(n)
		n.cli = n.ns.CLI(c.bin, n.data, "127.0.0.1:9443")
	}
	for _, n := range c.nodes {
		c.waitUp(n, 3)
	}
	c.allOwned(30 * time.Second)
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTraffic starts, per pod, a capture of every server reply at the relay, the relay
// (forwarding to all three replicas) and perfdhcp in a rack host.
func (c *cluster) startTraffic() []*testutil.Proc {
	return c.startLoad(20, 0)
}

// startLoad is startTraffic at rate exchanges/s per pod, for period seconds (0: until
// stopped).
func (c *cluster) startLoad(rate, period int) []*testutil.Proc {
	var perf []*testutil.Proc
	for i, p := range c.pods {
		p.capture = filepath.Join(c.t.TempDir(), p.name+".pcap")
		cap := p.tor.Start(nil, "tcpdump", "-i", "wan", "-Z", "root", "--immediate-mode", "-U", "-n", "-w", p.capture, "udp src port 67 and udp dst port 67")
		testutil.WaitFor(c.t, 10*time.Second, "tcpdump to listen", func() bool {
			return strings.Contains(cap.Output(), "listening on") || cap.Exited()
		})
		p.tor.StartRelay(c.nodes[0].addr, c.nodes[1].addr, c.nodes[2].addr)
		host := p.tor.Host(fmt.Sprintf("perf%d", i), fmt.Sprintf("52:54:00:aa:00:%02x", i+1))
		host.Run("ip", "addr", "add", p.perfAddr+"/"+strings.Split(p.subnet, "/")[1], "dev", "eth0")
		args := []string{"perfdhcp", "-4", "-l", "eth0", "-r", fmt.Sprint(rate), "-R", fmt.Sprint(p.clients), "-b", fmt.Sprintf("mac=52:54:%02x:00:00:00", i+1)}
		if period > 0 {
			args = append(args, "-p", fmt.Sprint(period))
		}
		perf = append(perf, host.Start(nil, append(args, "all")...))
	}
	return perf
}

// TestReplicasFailover: three replicas (each in its own namespace) on a 3-member etcd,
// a dhcrelay per pod forwarding to all three, perfdhcp in every rack. The owner of p1
// is SIGKILLed twice (and restarted); then the owner of p2 is cut off from etcd, silently,
// for three session TTLs while its DHCP still arrives. Asserted from a capture of every
// server reply at the relays and from etcd: no address ACKed to two MACs, every MAC's
// last ACKed lease is stored, p1 is ACKed by another replica within failoverLimit after
// each kill, and the cut-off replica sends nothing from one TTL after the cut until it
// is reconnected.
func TestReplicasFailover(t *testing.T) {
	c := newCluster(t)
	owners := map[string]string{} // pod -> its settled owner's address
	for _, p := range c.pods {
		owners[p.name] = c.ownerNode(p.name).addr
	}
	perf := c.startTraffic()
	p1, p2 := c.pods[0], c.pods[1]
	testutil.WaitFor(t, 30*time.Second, "ACKs in every pod", func() bool {
		for _, p := range c.pods {
			if c.firstAck(p, time.Time{}, "").IsZero() {
				return false
			}
		}
		return true
	})
	// With all three live and settled, only each pod's owner answers it.
	firstKill := time.Now()
	for _, p := range c.pods {
		for _, r := range c.replies(p) {
			if r.at.Before(firstKill) && r.from.String() != owners[p.name] {
				t.Errorf("pod %s owned by %s: %s answered %s with a %s", p.name, owners[p.name], r.from, r.mac, r.typ)
			}
		}
	}

	for kill := 1; kill <= 2; kill++ {
		victim := c.ownerNode(p1.name)
		killed := time.Now()
		if err := victim.proc.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var acked time.Time
		testutil.WaitFor(t, failoverLimit+5*time.Second, "p1 ACKed by another replica", func() bool {
			acked = c.firstAck(p1, killed, victim.addr)
			return !acked.IsZero()
		})
		took := acked.Sub(killed)
		t.Logf("kill %d of %s (owner of p1): first ACK from another replica after %s", kill, victim.name, took.Round(10*time.Millisecond))
		if took > failoverLimit {
			t.Errorf("kill %d: p1 answered again after %s, want under %s", kill, took, failoverLimit)
		}
		c.start(victim)
		c.allOwned(60 * time.Second)
	}

	// Cut the owner of p2 off from etcd (its DHCP keeps arriving) for three TTLs.
	cut := c.ownerNode(p2.name)
	cutAt := time.Now()
	for _, f := range cut.fwd {
		f.Hold(true)
	}
	testutil.WaitFor(t, failoverLimit+5*time.Second, "p2 ACKed by another replica while its owner is cut off", func() bool {
		return !c.firstAck(p2, cutAt, cut.addr).IsZero()
	})
	time.Sleep(3*ttl - time.Since(cutAt)) // the cut lasts 3 TTLs: a duration, not a wait on a condition
	restoredAt := time.Now()
	for _, f := range cut.fwd {
		f.Hold(false)
	}
	c.allOwned(60 * time.Second)
	for _, p := range perf {
		p.Stop()
	}

	for _, p := range c.pods {
		for _, r := range c.replies(p) {
			if r.from.String() == cut.addr && r.at.After(cutAt.Add(ttl)) && r.at.Before(restoredAt) {
				t.Errorf("cut-off replica %s sent a %s for %s (%s) at cut+%s, past its session", cut.name, r.typ, r.mac, p.name, r.at.Sub(cutAt).Round(time.Millisecond))
			}
		}
	}
	c.checkAcks()
}

// checkAcks: no address ACKed to two MACs in any pod, and every MAC's last ACKed
// address is its lease in etcd.
func (c *cluster) checkAcks() {
	t := c.t
	st, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: c.etcd.Endpoints(), Prefix: prefix})
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
	stored := map[string]string{} // pod/mac -> ip
	for _, l := range leases {
		stored[l.Pod+"/"+l.MAC] = l.IP
	}
	total := 0
	for _, p := range c.pods {
		holder := map[netip.Addr]string{}
		last := map[string]netip.Addr{}
		by := map[string]int{}
		for _, r := range c.replies(p) {
			if r.typ != dhcpv4.MessageTypeAck {
				continue
			}
			total++
			by[r.from.String()]++
			if m, ok := holder[r.yiaddr]; ok && m != r.mac {
				t.Errorf("pod %s: %s ACKed to %s and to %s", p.name, r.yiaddr, m, r.mac)
			}
			holder[r.yiaddr] = r.mac
			last[r.mac] = r.yiaddr
		}
		for mac, ip := range last {
			if got := stored[p.name+"/"+mac]; got != ip.String() {
				t.Errorf("pod %s: %s was last ACKed %s, etcd holds %q", p.name, mac, ip, got)
			}
		}
		t.Logf("pod %s: %d ACKs to %d MACs, by replica %v", p.name, len(holder), len(last), by)
	}
	if total == 0 {
		t.Fatal("no ACK captured")
	}
}
