package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

var (
	testActor = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	quietLog  = slog.New(slog.NewTextHandler(io.Discard, nil))
)

func openManager(t testing.TB, st podmgr.Store) *podmgr.Manager {
	t.Helper()
	m, err := podmgr.Open(context.Background(), st, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openBolt(t testing.TB) *podmgr.BoltStore {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func pod(name, giaddr, profile string) podmgr.Pod {
	return podmgr.Pod{Name: name, Match: []podmgr.MatchRule{{Giaddr: giaddr}},
		Subnets:       []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.200"}},
		ServerAddress: "198.51.100.10", Profile: profile}
}

// outcome names an operation's result the same way for both stores.
func outcome(err error) string {
	for _, k := range []error{podmgr.ErrConflict, podmgr.ErrNotFound, podmgr.ErrInvalid, podmgr.ErrHostToken} {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

// randomOp applies one random operation, chosen by r, to m and returns its outcome.
func randomOp(ctx context.Context, r *rand.Rand, m *podmgr.Manager) (string, string) {
	pick := func(prefix string, n int) string { return fmt.Sprintf("%s%d", prefix, r.IntN(n)) }
	mac := func() string { return fmt.Sprintf("52:54:00:00:00:%02x", r.IntN(10)) }
	profile := pick("prof", 3)
	giaddr := fmt.Sprintf("192.0.2.%d", 1+r.IntN(5))
	switch op := r.IntN(16); op {
	case 0:
		name := pick("pod", 4)
		_, err := m.CreatePod(ctx, testActor, pod(name, giaddr, profile))
		return "create pod " + name + " " + giaddr, outcome(err)
	case 1, 15:
		name := pick("pod", 4)
		_, _, err := m.ApplyPod(ctx, testActor, pod(name, giaddr, profile))
		return "apply pod " + name + " " + giaddr, outcome(err)
	case 2:
		name, force := pick("pod", 4), r.IntN(2) == 0
		return fmt.Sprintf("delete pod %s force=%v", name, force), outcome(m.DeletePod(ctx, testActor, name, force))
	case 3:
		create := r.IntN(2) == 0
		_, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: profile, KernelArgs: pick("quiet=", 3)}, create)
		return fmt.Sprintf("apply profile %s create=%v", profile, create), outcome(err)
	case 4:
		return "delete profile " + profile, outcome(m.DeleteProfile(ctx, testActor, profile))
	case 5:
		var hs []podmgr.Host
		p := pick("pod", 4)
		for range 1 + r.IntN(3) {
			h := podmgr.Host{MAC: mac(), Pod: p}
			if r.IntN(2) == 0 {
				h.ProvisioningIP = fmt.Sprintf("192.0.2.%d", 10+r.IntN(4))
			}
			if r.IntN(4) == 0 {
				h.Profile = profile
			}
			hs = append(hs, h)
		}
		_, err := m.AddHosts(ctx, testActor, hs)
		if err == nil {
			// Its inventory, as an agent would report it (deleted with the host).
			err = m.Store().Batch(ctx, func(tx podmgr.Tx) error {
				return tx.PutInventory(podmgr.Inventory{MAC: hs[0].MAC, UpdatedAt: time.Unix(1e9, 0).UTC(), Data: json.RawMessage(`{"system":{"serial":"SN-` + hs[0].MAC + `"}}`)})
			})
		}
		return fmt.Sprintf("add hosts %+v", hs), outcome(err)
	case 6:
		x := mac()
		return "delete host " + x, outcome(m.DeleteHost(ctx, testActor, x))
	case 7:
		x := mac()
		_, err := m.Reprovision(ctx, testActor, x)
		return "reprovision " + x, outcome(err)
	case 8:
		x := mac()
		st := []podmgr.HostState{podmgr.StateOffered, podmgr.StateBooting, podmgr.StateInstalling}[r.IntN(3)]
		_, err := m.RecordHostEvent(ctx, x, "test", "step", "", podmgr.HostUpdate{State: st})
		return fmt.Sprintf("host event %s %s", x, st), outcome(err)
	case 9:
		name := pick("tok", 3)
		_, _, err := m.CreateToken(ctx, testActor, name, podmgr.RoleViewer)
		return "create token " + name, outcome(err)
	case 10:
		name := pick("tok", 3)
		id := "none"
		for _, t := range m.Tokens() {
			if t.Name == name {
				id = t.ID
			}
		}
		return "revoke token " + name, outcome(m.RevokeToken(ctx, testActor, id, true))
	case 12:
		f := podmgr.EventFilter{Kind: []podmgr.EventKind{"", podmgr.KindHost, podmgr.KindAudit}[r.IntN(3)], After: uint64(r.IntN(120)), Limit: r.IntN(6)}
		if r.IntN(2) == 0 {
			f.MAC = mac()
		}
		if r.IntN(4) == 0 {
			f.Pod = pick("pod", 4)
		}
		evs, err := m.Events(ctx, f)
		page := make([]string, 0, len(evs))
		for _, e := range evs {
			page = append(page, fmt.Sprintf("%d:%s:%s", e.Seq, e.Action, e.MAC))
		}
		return fmt.Sprintf("events %+v", f), outcome(err) + " " + strings.Join(page, ",")
	case 14:
		name := pick("pod", 4)
		_, _, err := m.ApplyPod(ctx, testActor, narrowPod(name, giaddr, profile))
		return "narrow pod " + name + " " + giaddr, outcome(err)
	case 13:
		max := 5 + r.IntN(40)
		n, err := m.Store().(interface {
			PruneHostEvents(podmgr.EventLimits, time.Time) (int, error)
		}).PruneHostEvents(podmgr.EventLimits{Max: max}, time.Now())
		return fmt.Sprintf("prune host events max=%d", max), fmt.Sprintf("%s %d", outcome(err), n)
	default:
		l := podmgr.Lease{Pod: pick("pod", 4), IP: fmt.Sprintf("192.0.2.%d", 100+r.IntN(5)), MAC: mac(), Expires: time.Unix(1e9+int64(r.IntN(100)), 0).UTC()}
		del := r.IntN(3) == 0
		err := m.Store().Batch(ctx, func(tx podmgr.Tx) error {
			if del {
				return tx.DeleteLease(l.Pod, l.IP)
			}
			return tx.PutLease(l)
		})
		return fmt.Sprintf("lease %+v delete=%v", l, del), outcome(err)
	}
}

// dump is a store's whole content, with what differs by nature between two runs (clock
// readings, random token IDs and secrets) blanked.
type dump struct {
	Pods       []podmgr.Pod
	Profiles   []podmgr.Profile
	Hosts      []podmgr.Host
	HostsOfPod map[string][]string
	Tokens     []podmgr.Token
	Leases     []podmgr.Lease
	Events     []podmgr.Event
	// Inventories as EachInventory lists them (a deleted host's goes with it).
	Inventories []podmgr.Inventory
}

func dumpStore(t testing.TB, st podmgr.Store) dump {
	t.Helper()
	d := dump{HostsOfPod: map[string][]string{}}
	err := st.View(context.Background(), func(tx podmgr.ReadTx) error {
		var err error
		if d.Pods, err = tx.Pods(); err != nil {
			return err
		}
		for i := range d.Pods {
			d.Pods[i].CreatedAt, d.Pods[i].UpdatedAt = time.Time{}, time.Time{}
			macs, err := tx.HostsOfPod(d.Pods[i].Name)
			if err != nil {
				return err
			}
			d.HostsOfPod[d.Pods[i].Name] = macs
		}
		if d.Profiles, err = tx.Profiles(); err != nil {
			return err
		}
		for i := range d.Profiles {
			d.Profiles[i].CreatedAt, d.Profiles[i].UpdatedAt = time.Time{}, time.Time{}
		}
		if err := tx.EachHost(func(h podmgr.Host) error {
			h.CreatedAt, h.UpdatedAt, h.TokenExpires = time.Time{}, time.Time{}, time.Time{}
			d.Hosts = append(d.Hosts, h)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.EachInventory(nil, func(inv podmgr.Inventory) error {
			d.Inventories = append(d.Inventories, inv)
			return nil
		}); err != nil {
			return err
		}
		if d.Tokens, err = tx.Tokens(); err != nil {
			return err
		}
		for i := range d.Tokens {
			d.Tokens[i].ID, d.Tokens[i].Hash, d.Tokens[i].CreatedAt = "", "", time.Time{}
		}
		slices.SortFunc(d.Tokens, func(a, b podmgr.Token) int { return strings.Compare(a.Name, b.Name) })
		if d.Leases, err = tx.Leases(); err != nil {
			return err
		}
		if d.Events, err = tx.Events(podmgr.EventFilter{}); err != nil {
			return err
		}
		for i := range d.Events {
			d.Events[i].Time = time.Time{}
			if strings.HasPrefix(d.Events[i].Action, "token.") {
				d.Events[i].Detail = ""
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func diffDumps(a, b dump) string {
	ja, _ := json.MarshalIndent(a, "", " ")
	jb, _ := json.MarshalIndent(b, "", " ")
	la, lb := strings.Split(string(ja), "\n"), strings.Split(string(jb), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("line %d: bbolt %q, etcd %q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("bbolt dump has %d lines, etcd %d", len(la), len(lb))
}

// TestSameOperationsSameStateAsBolt runs the same random operations through a Manager
// on bbolt and on etcd (events included: a per-host ring of 4, paged reads with every
// filter, global retention): every operation must have the same outcome on both, and the
// stores must hold the same content afterwards (and after each seed's run, a Manager
// opened fresh on each must load the same registry).
func TestSameOperationsSameStateAsBolt(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	inventories := 0
	for seed := range uint64(4) {
		bolt := openBolt(t)
		etcd := openStore(t, c, fmt.Sprintf("/conformance/%d/", seed))
		// A small per-host ring, so that appends trim in both stores.
		bolt.SetEventLimits(podmgr.EventLimits{PerHost: 4})
		etcd.SetEventLimits(podmgr.EventLimits{PerHost: 4})
		mb, me := openManager(t, bolt), openManager(t, etcd)
		rb, re := rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 1))
		outcomes := map[string]int{}
		for i := range 250 {
			opB, outB := randomOp(ctx, rb, mb)
			outcomes[strings.Fields(opB)[0]+" "+strings.Fields(outB)[0]]++
			opE, outE := randomOp(ctx, re, me)
			if opB != opE || outB != outE {
				t.Fatalf("seed %d op %d: bbolt %s -> %s; etcd %s -> %s", seed, i, opB, outB, opE, outE)
			}
		}
		db, de := dumpStore(t, bolt), dumpStore(t, etcd)
		if !reflect.DeepEqual(db, de) {
			t.Fatalf("seed %d: stores differ: %s", seed, diffDumps(db, de))
		}
		inventories += len(db.Inventories)
		if len(db.Events) < 30 || outcomes["events ok"] == 0 || outcomes["prune ok"] == 0 || outcomes["add ok"] == 0 || outcomes["add conflict"] == 0 || outcomes["create conflict"] == 0 {
			t.Fatalf("seed %d: the run did too little to compare: %d events, outcomes %v", seed, len(db.Events), outcomes)
		}
		lb, le := openManager(t, bolt), openManager(t, etcd)
		if !slices.Equal(lb.Registry().PodNames(), le.Registry().PodNames()) || lb.Registry().HostCount("") != le.Registry().HostCount("") || lb.TokenCount() != le.TokenCount() {
			t.Fatalf("seed %d: registries loaded from the two stores differ", seed)
		}
	}
	if inventories == 0 {
		t.Fatal("no run ended with an inventory stored: EachInventory was not compared")
	}
}

// TestReplicasRaceForOneMAC: two Managers (two replicas) on one 3-member etcd register
// the same MAC into two pods at the same instant, many rounds: exactly one wins, the
// other gets ErrConflict (409), and the store holds the winner's host. Likewise two
// pods with the same match rule.
func TestReplicasRaceForOneMAC(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := context.Background()
	a := openManager(t, openStore(t, c, "/race/"))
	if _, _, err := a.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"pa", "pb"} {
		if _, err := a.CreatePod(ctx, testActor, pod(name, fmt.Sprintf("192.0.2.%d", i+1), "default")); err != nil {
			t.Fatal(err)
		}
	}
	b := openManager(t, openStore(t, c, "/race/")) // loads what A wrote
	race := func(fa, fb func() error) (errA, errB error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errA = fa() }()
		go func() { defer wg.Done(); <-start; errB = fb() }()
		close(start)
		wg.Wait()
		return
	}
	oneWins := func(what string, errA, errB error) (aWon bool) {
		t.Helper()
		switch {
		case errA == nil && errors.Is(errB, podmgr.ErrConflict):
			return true
		case errB == nil && errors.Is(errA, podmgr.ErrConflict):
			return false
		}
		t.Fatalf("%s: replica A: %v; replica B: %v; want exactly one success and one conflict", what, errA, errB)
		return false
	}
	const rounds = 15
	wins := 0
	for i := range rounds {
		mac := fmt.Sprintf("52:54:00:aa:00:%02x", i)
		errA, errB := race(
			func() error { _, err := a.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "pa"}}); return err },
			func() error { _, err := b.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "pb"}}); return err })
		want := "pb"
		if oneWins("MAC "+mac, errA, errB) {
			want = "pa"
			wins++
		}
		err := a.Store().View(ctx, func(tx podmgr.ReadTx) error {
			h, ok, err := tx.Host(mac)
			if err == nil && (!ok || h.Pod != want) {
				err = fmt.Errorf("stored host %+v (found %v), want it in %s", h, ok, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("MAC races: replica A won %d of %d", wins, rounds)
	for i := range rounds {
		giaddr := fmt.Sprintf("203.0.113.%d", i+1)
		errA, errB := race(
			func() error {
				_, err := a.CreatePod(ctx, testActor, pod(fmt.Sprintf("ra%d", i), giaddr, "default"))
				return err
			},
			func() error {
				_, err := b.CreatePod(ctx, testActor, pod(fmt.Sprintf("rb%d", i), giaddr, "default"))
				return err
			})
		oneWins("match rule giaddr="+giaddr, errA, errB)
	}
}

// TestManagerAcrossMemberRestart: with one of three members stopped the Manager keeps
// registering hosts, and after the member comes back every host it acknowledged is
// there, read through each member in turn.
func TestManagerAcrossMemberRestart(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := context.Background()
	st := openStore(t, c, "/restart/")
	m := openManager(t, st)
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, testActor, pod("pa", "192.0.2.1", "default")); err != nil {
		t.Fatal(err)
	}
	var acked []string
	add := func(i int) {
		mac := fmt.Sprintf("52:54:00:dd:00:%02x", i)
		if _, err := m.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "pa"}}); err != nil {
			t.Logf("add %s: %v", mac, err) // an in-flight request on the stopped member may fail
			return
		}
		acked = append(acked, mac)
	}
	for member := range 3 {
		c.Stop(member)
		for i := range 5 {
			add(member*10 + i)
		}
		c.Restart(member)
	}
	if len(acked) < 12 {
		t.Fatalf("only %d of 15 registrations succeeded with one member of three down", len(acked))
	}
	cli := c.Client()
	for _, ep := range c.Endpoints() {
		cli.SetEndpoints(ep)
		for _, mac := range acked {
			r, err := cli.Get(ctx, "/restart/hosts/"+mac)
			if err != nil || len(r.Kvs) != 1 {
				t.Fatalf("host %s acknowledged but not on member %s: %v", mac, ep, err)
			}
		}
	}
}
