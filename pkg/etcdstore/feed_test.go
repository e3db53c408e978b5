package etcdstore

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestReplicaFollowsOtherReplica: what one Manager commits, another Manager on the same
// etcd prefix serves from its registry within a second, deletes included, and a token
// made on one authenticates on the other.
func TestReplicaFollowsOtherReplica(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	a := openManager(t, openStore(t, c, "/follow/"))
	b := openManager(t, openStore(t, c, "/follow/"))
	ctx := context.Background()
	const mac = "52:54:00:00:00:01"
	seen := func(what string, cond func() bool) {
		t.Helper()
		testutil.WaitFor(t, time.Second, "replica B to see "+what, cond)
	}
	if _, _, err := a.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default", KernelArgs: "quiet"}, true); err != nil {
		t.Fatal(err)
	}
	seen("the profile", func() bool { _, ok := b.Registry().Profile("default"); return ok })
	if _, err := a.CreatePod(ctx, testActor, pod("p1", "192.0.2.1", "default")); err != nil {
		t.Fatal(err)
	}
	keys := podmgr.MatchKeys{Giaddr: netip.MustParseAddr("192.0.2.1")}
	seen("the pod's match rule", func() bool { pc, ok := b.Registry().Resolve(keys); return ok && pc.Pod.Name == "p1" })
	if _, err := a.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "p1", ProvisioningIP: "192.0.2.50"}}); err != nil {
		t.Fatal(err)
	}
	seen("the host", func() bool { h, ok := b.Registry().Host(mac); return ok && h.Netboot })
	seen("the reservation", func() bool {
		m, ok := b.Registry().ReservedBy("p1", netip.MustParseAddr("192.0.2.50"))
		return ok && m == mac
	})
	if _, _, err := a.SetNetboot(ctx, testActor, mac, false); err != nil {
		t.Fatal(err)
	}
	seen("netboot off", func() bool { h, ok := b.Registry().Host(mac); return ok && !h.Netboot })
	if _, _, err := a.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default", KernelArgs: "quiet loud"}, false); err != nil {
		t.Fatal(err)
	}
	seen("the pod's new profile", func() bool { pc, ok := b.Registry().Pod("p1"); return ok && pc.Profile.KernelArgs == "quiet loud" })
	secret, tok, err := a.CreateToken(ctx, testActor, "ops", podmgr.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	seen("the token", func() bool { got, ok := b.Authenticate(secret); return ok && got.ID == tok.ID })
	// B's own pre-checks now see A's host: a second registration is refused from memory.
	if _, err := b.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "p1"}}); !errors.Is(err, podmgr.ErrConflict) {
		t.Fatalf("B registering A's host: %v, want a conflict", err)
	}

	if err := a.RevokeToken(ctx, testActor, tok.ID, true); err != nil {
		t.Fatal(err)
	}
	seen("the token revoked", func() bool { _, ok := b.Authenticate(secret); return !ok })
	if err := a.DeleteHost(ctx, testActor, mac); err != nil {
		t.Fatal(err)
	}
	seen("the host deleted", func() bool { _, ok := b.Registry().Host(mac); return !ok && b.Registry().HostCount("p1") == 0 })
	if err := a.DeletePod(ctx, testActor, "p1", false); err != nil {
		t.Fatal(err)
	}
	seen("the pod deleted", func() bool { _, ok := b.Registry().Resolve(keys); return !ok })
	if err := a.DeleteProfile(ctx, testActor, "default"); err != nil {
		t.Fatal(err)
	}
	seen("the profile deleted", func() bool { _, ok := b.Registry().Profile("default"); return !ok })
	seen("A's revision", func() bool { return b.Revision() == a.Revision() })
}

// loadCounter is a FeedHandler that notes its loads and the profiles it learns of.
type loadCounter struct {
	mu       sync.Mutex
	loads    []uint64
	profiles []string
	last     uint64
}

func (h *loadCounter) Load(rev uint64, tx podmgr.ReadTx) error {
	ps, err := tx.Profiles()
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.loads = append(h.loads, rev)
	h.profiles = h.profiles[:0]
	for _, p := range ps {
		h.profiles = append(h.profiles, p.Name)
	}
	h.last = rev
	return nil
}

func (h *loadCounter) Apply(rev uint64, cs []podmgr.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev <= h.last {
		panic("revision went back")
	}
	h.last = rev
	for _, c := range cs {
		if c.Kind == podmgr.ChangeProfile && !c.Deleted {
			h.profiles = append(h.profiles, c.Key)
		}
	}
}

func (h *loadCounter) snapshot() ([]uint64, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.loads), slices.Clone(h.profiles)
}

// TestFeedReloadsAfterCompaction: a feed whose next revision etcd compacted away loads
// a new snapshot (with what it missed) and follows on from there, never going back.
func TestFeedReloadsAfterCompaction(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	s := openStore(t, c, "/compact/")
	m := openManager(t, s)
	ctx := context.Background()
	behind := m.Revision()
	for _, name := range []string{"missed-1", "missed-2"} {
		if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: name}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client().Compact(ctx, int64(m.Revision())); err != nil {
		t.Fatal(err)
	}
	h := &loadCounter{}
	go s.follow(int64(behind), h)
	testutil.WaitFor(t, 5*time.Second, "a reload", func() bool { loads, _ := h.snapshot(); return len(loads) == 1 })
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "after"}, true); err != nil {
		t.Fatal(err)
	}
	want := []string{"missed-1", "missed-2", "after"}
	testutil.WaitFor(t, 5*time.Second, "the profile made after the reload", func() bool { _, ps := h.snapshot(); return slices.Equal(ps, want) })
	if loads, _ := h.snapshot(); loads[0] < m.Revision()-1 {
		t.Fatalf("reloaded at %d, before the compaction", loads[0])
	}
}
