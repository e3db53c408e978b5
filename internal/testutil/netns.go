package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireRoot skips a test that needs network namespaces when not root, loudly, unless
// CI is set: in CI such a test must run, so it fails instead.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s needs root (network namespaces) and CI must run it as root", t.Name())
		}
		t.Skipf("SKIPPING %s: needs root for network namespaces (run the suite as root; CI does)", t.Name())
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run scripts/deps.sh (it installs what the real-client tests drive)", tool)
		}
	}
}

// Topology is a set of network namespaces with a per-run name prefix, removed (with
// every process started in them) when the test ends. The usual shape is a central node,
// ToR switches with a DHCP relay reached across a routed WAN, and rack hosts behind them:
//
//	central (bridge wan0, 198.51.100.10/24) --veth-- tor-X (wan 198.51.100.N, bridge rack)
//	                                                   \--veth-- host-Y (eth0, MAC chosen)
//
// Only documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) belong in it.
type Topology struct {
	t      testing.TB
	Prefix string
	mu     sync.Mutex
	seq    int
}

// NewTopology starts an empty topology; RequireRoot first.
func NewTopology(t testing.TB) *Topology {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	return &Topology{t: t, Prefix: "pb" + hex.EncodeToString(b)}
}

// NS is one network namespace of a topology.
type NS struct {
	tp   *Topology
	Name string
}

func (tp *Topology) next() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.seq++
	return tp.seq
}

// Namespace creates a namespace named PREFIX-name with its loopback up.
func (tp *Topology) Namespace(name string) *NS {
	tp.t.Helper()
	ns := &NS{tp: tp, Name: tp.Prefix + "-" + name}
	tp.Run("ip", "netns", "add", ns.Name)
	tp.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			tp.t.Logf("ip netns del %s: %v %s", ns.Name, err, out)
		}
	})
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command in the root namespace and fails the test if it fails.
func (tp *Topology) Run(args ...string) string {
	tp.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tp.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Cmd is a command that runs inside the namespace.
func (ns *NS) Cmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs a command inside the namespace and fails the test if it fails.
func (ns *NS) Run(args ...string) string {
	ns.tp.t.Helper()
	return ns.tp.Run(append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Proc is a background process in a namespace.
type Proc struct {
	Cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Output is what the process wrote so far (stdout and stderr).
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to 10 s, then kills.
func (p *Proc) Stop() error {
	if p.Exited() {
		return p.err
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Start runs a command in the background inside the namespace; it is stopped when the
// test ends (before the namespaces are removed), and its output is logged on failure.
func (ns *NS) Start(env []string, args ...string) *Proc {
	ns.tp.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{Cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		ns.tp.t.Fatalf("start %s in %s: %v", strings.Join(args, " "), ns.Name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	ns.tp.t.Cleanup(func() {
		p.Stop()
		if ns.tp.t.Failed() {
			ns.tp.t.Logf("%s (in %s) output:\n%s", args[0], ns.Name, p.Output())
		}
	})
	return p
}

// Central creates the central node: a bridge wan0 carrying addr (CIDR form), which every
// ToR's WAN link joins.
func (tp *Topology) Central(addr string) *NS {
	tp.t.Helper()
	c := tp.Namespace("central")
	c.Run("ip", "link", "add", "wan0", "type", "bridge")
	c.Run("ip", "addr", "add", addr, "dev", "wan0")
	c.Run("ip", "link", "set", "wan0", "up")
	return c
}

// ToR is a top-of-rack switch: a WAN link to central and a rack bridge.
type ToR struct {
	*NS
	central  *NS
	WANAddr  string // without prefix length
	RackAddr string // without prefix length: the giaddr its relay uses
}

// ToR creates a switch namespace with wanAddr on its link to central and rackAddr on its
// rack bridge (both CIDR form), forwarding on, a default route to central's WAN address
// gw, and a host route on central to rackAddr through it (through the last ToR created
// when several share rackAddr).
func (tp *Topology) ToR(central *NS, name, wanAddr, rackAddr, gw string) *ToR {
	tp.t.Helper()
	tor, _ := tp.tor(central, name, wanAddr, rackAddr, gw, nil)
	return tor
}

// ToROverWAN is ToR with its link to central through an emulated WAN (WANLink) instead
// of a veth.
func (tp *Topology) ToROverWAN(central *NS, name, wanAddr, rackAddr, gw string, cfg WANConfig) (*ToR, *WAN) {
	tp.t.Helper()
	return tp.tor(central, name, wanAddr, rackAddr, gw, &cfg)
}

func (tp *Topology) tor(central *NS, name, wanAddr, rackAddr, gw string, wanCfg *WANConfig) (*ToR, *WAN) {
	tp.t.Helper()
	n := tp.next()
	ns := tp.Namespace("tor-" + name)
	peer := fmt.Sprintf("t%d", n)
	var wan *WAN
	if wanCfg == nil {
		central.Run("ip", "link", "add", peer, "type", "veth", "peer", "name", "wan", "netns", ns.Name)
	} else {
		wan = tp.WANLink(central, peer, ns, "wan", *wanCfg)
	}
	central.Run("ip", "link", "set", peer, "master", "wan0", "up")
	ns.Run("ip", "addr", "add", wanAddr, "dev", "wan")
	ns.Run("ip", "link", "set", "wan", "up")
	ns.Run("ip", "link", "add", "rack", "type", "bridge")
	ns.Run("ip", "addr", "add", rackAddr, "dev", "rack")
	ns.Run("ip", "link", "set", "rack", "up")
	ns.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	tor := &ToR{NS: ns, central: central, WANAddr: strings.Split(wanAddr, "/")[0], RackAddr: strings.Split(rackAddr, "/")[0]}
	// replace, not add: ToRs may share a rack address (a giaddr), and central then
	// routes it to the last one, as a router without policy routing would.
	central.Run("ip", "route", "replace", tor.RackAddr+"/32", "via", tor.WANAddr)
	if gw != "" {
		ns.Run("ip", "route", "add", "default", "via", gw)
	}
	return tor, wan
}

// RouteRack routes a whole rack prefix from central through the ToR (for unicast renewals
// from rack hosts); only one ToR may own a prefix.
func (tor *ToR) RouteRack(prefix string) {
	tor.central.Run("ip", "route", "replace", prefix, "via", tor.WANAddr)
}

// StartRelay runs ISC dhcrelay on the ToR: upstream on its WAN link, downstream on the
// rack bridge, relaying to server. extra are more flags (-a adds option 82).
func (tor *ToR) StartRelay(server string, extra ...string) *Proc {
	args := append([]string{"dhcrelay", "-d", "-4"}, extra...)
	args = append(args, "-iu", "wan", "-id", "rack", server)
	p := tor.Start(nil, args...)
	WaitFor(tor.tp.t, 10*time.Second, "dhcrelay to start", func() bool {
		return strings.Contains(p.Output(), "Sending on") || p.Exited()
	})
	if p.Exited() {
		tor.tp.t.Fatalf("dhcrelay exited: %s", p.Output())
	}
	return p
}

// Host creates a rack host: a namespace whose eth0 (with the given MAC) is plugged into
// the ToR's rack bridge, up and without an address.
func (tor *ToR) Host(name, mac string) *NS {
	tp := tor.tp
	tp.t.Helper()
	n := tp.next()
	ns := tp.Namespace("host-" + name)
	port := fmt.Sprintf("h%d", n)
	tor.Run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
	tor.Run("ip", "link", "set", port, "master", "rack", "up")
	ns.Run("ip", "link", "set", "eth0", "address", mac)
	ns.Run("ip", "link", "set", "eth0", "up")
	return ns
}

// CLI returns a podboot CLI that runs inside ns (`ip netns exec NS podboot --server
// https://API --token ... --ca-cert DATA/pki/ca.pem ...`), for a `podboot serve` started
// in ns with its management API on api (host:port, e.g. 127.0.0.1:9443) and its data in
// dataDir. It waits for the admin token that serve writes at first start.
func (ns *NS) CLI(bin, dataDir, api string) *CLI {
	t := ns.tp.t
	t.Helper()
	tokFile := filepath.Join(dataDir, "admin.token")
	WaitFor(t, 30*time.Second, "admin token file", func() bool {
		_, err := os.Stat(tokFile)
		return err == nil
	})
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	// CLI runs Bin with the podboot arguments: a wrapper puts it into the namespace.
	wrapper := filepath.Join(t.TempDir(), "podboot-in-"+ns.Name)
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.Name, bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &CLI{Bin: wrapper, Server: "https://" + api, Token: strings.TrimSpace(string(tok)), CACert: filepath.Join(dataDir, "pki", "ca.pem")}
}

// StartRouterAdvertisements sends IPv6 router advertisements (no prefix, no DHCPv6, not a
// default router) on the rack bridge, as a real ToR would. Without them iPXE waits
// about 13 s in "Configuring" for its IPv6 autoconfiguration to time out.
func (tor *ToR) StartRouterAdvertisements() *Proc {
	tor.tp.t.Helper()
	bin := buildOnce(tor.tp.t, "github.com/podboot/podboot/internal/testutil/rasend", "rasend")
	return tor.Start(nil, bin, "-iface", "rack")
}
