package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

func importHosts(first, n int, reserve bool) []podmgr.Host {
	var hs []podmgr.Host
	for i := first; i < first+n; i++ {
		h := podmgr.Host{MAC: fmt.Sprintf("52:54:00:ee:%02x:%02x", i/256, i%256), Pod: "pa"}
		if reserve {
			h.ProvisioningIP = fmt.Sprintf("10.%d.%d.%d", 0, (i-first)/250, 1+(i-first)%250)
		}
		hs = append(hs, h)
	}
	return hs
}

func importPod() podmgr.Pod {
	p := pod("pa", "192.0.2.1", "default")
	p.Subnets = []podmgr.Subnet{{CIDR: "10.0.0.0/16", Gateway: "10.0.255.254"}}
	return p
}

// hostCount counts the host records under prefix, read from etcd directly (the
// deletion marker "hosts/" is not one).
func hostCount(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := prefix + "hosts/"
	r, err := cli.Get(ctx, dir+"\x00", clientv3.WithRange(clientv3.GetPrefixRangeEnd(dir)), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return r.Count
}

// partFailer is the store with a hook run before the n-th write transaction.
type partFailer struct {
	*Store
	n      atomic.Int32
	at     int32
	before func()
}

func (p *partFailer) Update(ctx context.Context, fn func(podmgr.Tx) error) error {
	if p.n.Add(1) == p.at {
		p.before()
	}
	return p.Store.Update(ctx, fn)
}

// TestHostImportIsAllOrNothing: a registration bigger than one etcd transaction is
// written in parts and stays all-or-nothing: 600 hosts with reservations all arrive;
// when another replica registers a MAC of a later part between the parts, the parts
// already written are removed again and the error says nothing was imported.
func TestHostImportIsAllOrNothing(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	st := &partFailer{Store: openStore(t, c, "/import/")}
	m := openManager(t, st)
	other := openManager(t, openStore(t, c, "/import/"))
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, testActor, importPod()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, testActor, importHosts(0, 600, true)); err != nil {
		t.Fatal(err)
	}
	if n := hostCount(t, c.Client(), "/import/"); n != 600 {
		t.Fatalf("%d hosts stored, want 600", n)
	}

	hs := importHosts(1000, 200, false)
	st.at = st.n.Load() + 4 // before the fourth part
	st.before = func() {
		if _, err := other.AddHosts(ctx, testActor, []podmgr.Host{{MAC: hs[len(hs)-1].MAC, Pod: "pa"}}); err != nil {
			t.Error(err)
		}
	}
	_, err := m.AddHosts(ctx, testActor, hs)
	if !errors.Is(err, podmgr.ErrConflict) || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("import with a MAC taken meanwhile: %v, want a conflict saying nothing was imported", err)
	}
	if n := hostCount(t, c.Client(), "/import/"); n != 601 {
		t.Fatalf("%d hosts stored after the undone import, want 601 (600 and the other replica's)", n)
	}
	testutil.WaitFor(t, 5*time.Second, "the registry to drop the undone hosts", func() bool { return m.Registry().HostCount("pa") == 601 })
}

// TestHostImportAcrossMemberKill: one member of three stopped (as by kill -9) in the
// middle of a 1,000-host import: the import completes, or fails with nothing stored.
// (cmd/podboot's TestServeOnEtcd does the same with 2,000 hosts through the CLI.)
func TestHostImportAcrossMemberKill(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := context.Background()
	m := openManager(t, openStore(t, c, "/kill/"))
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, testActor, importPod()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := m.AddHosts(ctx, testActor, importHosts(0, 1000, false)); done <- err }()
	testutil.WaitFor(t, 60*time.Second, "the import to be under way", func() bool { return m.Registry().HostCount("pa") >= 300 })
	c.Stop(0)
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the import did not end")
	}
	c.Restart(0)
	n := hostCount(t, c.Client(), "/kill/")
	if (err == nil && n != 1000) || (err != nil && n != 0) {
		t.Fatalf("import ended with %v and %d hosts stored: want all 1000, or an error and none", err, n)
	}
	t.Logf("import: %v, %d hosts", err, n)
}

// TestAbandonedImportIsRolledBack: the store of a replica importing in parts goes away
// after three parts (its client closed, as when the serve dies): the import's lease
// ends, another replica rolls the written parts back, and its audit event says what was
// cut off and removed.
func TestAbandonedImportIsRolledBack(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	open := storeOpener(t, c, "/abandon/")
	dying := open(Config{ImportTTL: 2 * time.Second})
	st := &partFailer{Store: dying}
	m := openManager(t, st)
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, testActor, importPod()); err != nil {
		t.Fatal(err)
	}
	survivor := open(Config{ImportSweep: 100 * time.Millisecond})
	per := dying.HostsPerTxn(false)
	st.at = st.n.Load() + 4 // before the fourth part
	st.before = func() { dying.Close() }
	start := time.Now()
	_, err := m.AddHosts(ctx, testActor, importHosts(0, 10*per, true))
	t.Logf("import failed after %v: %v", time.Since(start), err)
	if err == nil {
		t.Fatal("an import whose store closed mid-way succeeded")
	}
	cli := c.Client()
	testutil.WaitFor(t, 30*time.Second, "the abandoned import to be rolled back", func() bool {
		r, err := cli.Get(ctx, "/abandon/imports/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 0
	})
	t.Logf("rolled back %v after the start", time.Since(start))
	if n := hostCount(t, cli, "/abandon/"); n != 0 {
		t.Fatalf("%d hosts stored after the rollback, want none", n)
	}
	var evs []podmgr.Event
	if err := survivor.View(ctx, func(tx podmgr.ReadTx) (err error) {
		evs, err = tx.Events(podmgr.EventFilter{Kind: podmgr.KindAudit})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("cut off after 3 parts (%d hosts)", 3*per)
	last := evs[len(evs)-1]
	if last.Action != "host.import.rollback" || !strings.Contains(last.Detail, want) {
		t.Fatalf("last audit event %s %q, want host.import.rollback saying %q", last.Action, last.Detail, want)
	}
}

// storeOpener opens stores of one etcd prefix with the config's other fields, closed at
// the end of the test: the replicas of a rollback test.
func storeOpener(t *testing.T, c *testutil.EtcdCluster, prefix string) func(Config) *Store {
	return func(cfg Config) *Store {
		cfg.Endpoints, cfg.Prefix, cfg.RequestTimeout = c.Endpoints(), prefix, 15*time.Second
		s, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}
