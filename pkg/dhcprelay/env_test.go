package dhcprelay

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// testEnv is a real manager on a bbolt store in a temp dir, with a clock tests can move.
type testEnv struct {
	t     testing.TB
	dir   string
	store *podmgr.BoltStore
	mgr   *podmgr.Manager
	clock *fakeClock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var admin = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

func testLogger() *slog.Logger {
	if os.Getenv("DHCP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), clock: &fakeClock{now: time.Now()}}
	e.open()
	ctx := context.Background()
	if _, _, err := e.mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(e.dir, "podboot.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	mgr, err := podmgr.Open(context.Background(), st, testLogger())
	if err != nil {
		e.t.Fatal(err)
	}
	e.store, e.mgr = st, mgr
	e.t.Cleanup(func() { st.Close() })
}

// reopen simulates a restart: close the store and load everything again.
func (e *testEnv) reopen() {
	e.t.Helper()
	e.store.Close()
	e.open()
}

func (e *testEnv) pod(p podmgr.Pod) {
	e.t.Helper()
	if p.Profile == "" {
		p.Profile = "default"
	}
	if _, _, err := e.mgr.ApplyPod(context.Background(), admin, p); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) hosts(hs ...podmgr.Host) {
	e.t.Helper()
	if _, err := e.mgr.AddHosts(context.Background(), admin, hs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) netbootOff(mac string) {
	e.t.Helper()
	off := false
	if _, err := e.mgr.RecordHostEvent(context.Background(), mac, "test", "installed", "", podmgr.HostUpdate{State: podmgr.StateProvisioned, Netboot: &off}); err != nil {
		e.t.Fatal(err)
	}
}

// handler builds a packet path over the env's manager with its stored leases loaded.
func (e *testEnv) handler(cfg Config) *handler {
	e.t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := newMetrics(nil, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	h := &handler{cfg: cfg, mgr: e.mgr, reg: e.mgr.Registry(), leases: newLeaseTable(registryGen(e.mgr.Registry())), m: m, log: testLogger(), now: e.clock.Now,
		watch: newRelayWatch(0), port: 67}
	h.leases.load(e.storedLeases(), e.clock.Now())
	return h
}

// persist does what the committer does for one result.
// It reports whether the lease was written (false: its pod is gone, no reply).
func (e *testEnv) persist(r result) bool {
	e.t.Helper()
	if r.persist == nil && r.remove == nil {
		return false
	}
	batch := []result{r}
	err := e.store.Update(context.Background(), func(tx podmgr.Tx) error { return writeResults(tx, batch) })
	if err != nil {
		e.t.Fatal(err)
	}
	return !batch[0].stale
}

// The standard test topology: pods behind ToR relays across a WAN.
const (
	serverAddr = "198.51.100.10"
	relayA     = "198.51.100.2" // ToR of pod a (source address of its relayed packets)
	relayB     = "198.51.100.3" // ToR of pod b
	rackGW     = "192.0.2.1"    // giaddr of both racks: the same provisioning CIDR
)

func stdPod(name, relaySrc string, policy podmgr.UnknownHostPolicy) podmgr.Pod {
	return podmgr.Pod{
		Name:          name,
		Match:         []podmgr.MatchRule{{Giaddr: rackGW, RelaySource: relaySrc}},
		Subnets:       []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: rackGW, DNS: []string{"192.0.2.53"}, Domain: name + ".example", LeaseSeconds: 600, RangeStart: "192.0.2.100", RangeEnd: "192.0.2.199"}},
		ServerAddress: serverAddr,
		UnknownHosts:  policy,
	}
}

// pkt builds a relayed request.
type pktOpt func(*dhcpv4.DHCPv4)

func mustMAC(s string) net.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return hw
}

func newPkt(t testing.TB, mt dhcpv4.MessageType, mac string, opts ...pktOpt) *dhcpv4.DHCPv4 {
	t.Helper()
	p, err := dhcpv4.New(dhcpv4.WithHwAddr(mustMAC(mac)), dhcpv4.WithMessageType(mt), dhcpv4.WithGatewayIP(net.ParseIP(rackGW)))
	if err != nil {
		t.Fatal(err)
	}
	p.HopCount = 1
	for _, o := range opts {
		o(p)
	}
	return p
}

func withArch(a iana.Arch) pktOpt {
	return func(p *dhcpv4.DHCPv4) {
		p.UpdateOption(dhcpv4.OptClientArch(a))
		p.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	}
}

func withOpt(code uint8, v []byte) pktOpt {
	return func(p *dhcpv4.DHCPv4) { p.Options[code] = v }
}

func withGiaddr(a string) pktOpt {
	return func(p *dhcpv4.DHCPv4) { p.GatewayIPAddr = net.ParseIP(a).To4() }
}

func withCiaddr(a string) pktOpt {
	return func(p *dhcpv4.DHCPv4) { p.ClientIPAddr = net.ParseIP(a).To4() }
}

func withRequested(a string) pktOpt {
	return func(p *dhcpv4.DHCPv4) { p.UpdateOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(a))) }
}

func withServerID(a string) pktOpt {
	return func(p *dhcpv4.DHCPv4) { p.UpdateOption(dhcpv4.OptServerIdentifier(net.ParseIP(a))) }
}

func peerOf(a string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(a), port)
}

// do runs one packet through h and decodes the reply (nil when none).
func do(t testing.TB, h *handler, p *dhcpv4.DHCPv4, peer netip.AddrPort) (result, *dhcpv4.DHCPv4) {
	t.Helper()
	res := h.handle(context.Background(), p.ToBytes(), peer, local{})
	if res.reply == nil {
		return res, nil
	}
	rep, err := dhcpv4.FromBytes(res.reply)
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	return res, rep
}

// dora runs DISCOVER and REQUEST and persists the lease; it returns the ACK.
func dora(t testing.TB, e *testEnv, h *handler, mac string, peer netip.AddrPort, opts ...pktOpt) *dhcpv4.DHCPv4 {
	t.Helper()
	res, offer := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, mac, opts...), peer)
	if offer == nil {
		t.Fatalf("no offer for %s: outcome %s", mac, res.outcome)
	}
	ropts := append(append([]pktOpt{}, opts...), withRequested(offer.YourIPAddr.String()), withServerID(offer.ServerIdentifier().String()))
	res, ack := do(t, h, newPkt(t, dhcpv4.MessageTypeRequest, mac, ropts...), peer)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("no ACK for %s: outcome %s", mac, res.outcome)
	}
	e.persist(res)
	return ack
}
