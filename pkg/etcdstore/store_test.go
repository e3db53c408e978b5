package etcdstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// openStore opens a store on the cluster under its own prefix, closed at the end.
func openStore(t testing.TB, c *testutil.EtcdCluster, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A generous request timeout: CI's two cores run the members, the test and other
	// packages' tests at once, and a slow fsync must not read as a failed operation.
	s, err := Open(ctx, Config{Endpoints: c.Endpoints(), Prefix: prefix, RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEventSequenceUnderConcurrentStores appends events from many goroutines through two
// Store instances (two replicas) at once: the counter read and written in every txn must
// give every event its own number, none lost, none doubled.
func TestEventSequenceUnderConcurrentStores(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	stores := []*Store{openStore(t, c, "/seq/"), openStore(t, c, "/seq/")}
	ctx := context.Background()
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%2]
			for i := range each {
				write := st.Update
				if i%2 == 1 {
					write = st.Batch
				}
				errs <- write(ctx, func(tx podmgr.Tx) error {
					_, err := tx.AppendEvent(podmgr.Event{Kind: podmgr.KindAudit, Action: fmt.Sprintf("w%d-%d", w, i)})
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var evs []podmgr.Event
	if err := stores[0].View(ctx, func(tx podmgr.ReadTx) (err error) { evs, err = tx.Events(podmgr.EventFilter{}); return }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != workers*each {
		t.Fatalf("%d events stored, want %d", len(evs), workers*each)
	}
	seen := map[string]bool{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || seen[e.Action] {
			t.Fatalf("event %d: seq %d action %s (seen before: %v)", i, e.Seq, e.Action, seen[e.Action])
		}
		seen[e.Action] = true
	}
}

// TestRangeReadSeesConcurrentDelete: a txn that read a range must not commit after a
// concurrent txn deleted a key in it (the deletion marker trips the range guard).
func TestRangeReadSeesConcurrentDelete(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	a, b := openStore(t, c, "/rg/"), openStore(t, c, "/rg/")
	ctx := context.Background()
	for _, id := range []string{"t1", "t2"} {
		if err := a.Update(ctx, func(tx podmgr.Tx) error { return tx.PutToken(podmgr.Token{ID: id, Name: id}) }); err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	err := a.Update(ctx, func(tx podmgr.Tx) error {
		runs++
		toks, err := tx.Tokens()
		if err != nil {
			return err
		}
		if runs == 1 { // another replica deletes t2 after our read
			if err := b.Update(ctx, func(tx podmgr.Tx) error { return tx.DeleteToken("t2") }); err != nil {
				return err
			}
		}
		return tx.PutLease(podmgr.Lease{Pod: "p", IP: "192.0.2.1", MAC: fmt.Sprint(len(toks))})
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("fn ran %d times, want 2 (the delete must force a retry)", runs)
	}
	var leases []podmgr.Lease
	_ = a.View(ctx, func(tx podmgr.ReadTx) (err error) { leases, err = tx.Leases(); return })
	if len(leases) != 1 || leases[0].MAC != "1" {
		t.Fatalf("leases %+v, want one written after seeing 1 token", leases)
	}
}

// TestTooLargeIsRefusedClearly: more writes than etcd's --max-txn-ops is refused whole
// with ErrTooLarge, and Batch splits many small callers over several transactions.
func TestTooLargeIsRefusedClearly(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	s := openStore(t, c, "/big/")
	ctx := context.Background()
	err := s.Update(ctx, func(tx podmgr.Tx) error {
		for i := range 200 {
			if err := tx.PutLease(podmgr.Lease{Pod: "p", IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250)}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, podmgr.ErrInvalid) {
		t.Fatalf("200 writes in one Update: %v, want ErrTooLarge (an ErrInvalid, the API's 400)", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Batch(ctx, func(tx podmgr.Tx) error {
				return tx.PutLease(podmgr.Lease{Pod: "p", IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250)})
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var leases []podmgr.Lease
	_ = s.View(ctx, func(tx podmgr.ReadTx) (err error) { leases, err = tx.Leases(); return })
	if len(leases) != 300 {
		t.Fatalf("%d leases after 300 Batch calls, want 300", len(leases))
	}
}

// TestOneReplicaDoesNotContendWithItself: a boot storm on one replica (many goroutines
// recording host events through Batch and Update at once, every one of them taking the
// event counter) must not run into ErrContention: one store's writers are serial, as
// bbolt's are, and only other replicas' writes cost retries.
func TestOneReplicaDoesNotContendWithItself(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s := openStore(t, c, "/storm/")
	ctx := context.Background()
	const workers, each = 64, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				write := s.Batch
				if w%4 == 0 {
					write = s.Update
				}
				errs <- write(ctx, func(tx podmgr.Tx) error {
					_, err := tx.AppendEvent(podmgr.Event{Kind: podmgr.KindHost, MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", w, i), Action: "offered"})
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d writes failed, first: %v", failed, workers*each, first)
	}
}

// TestTLSClientCertificate: against members that require client certificates, the
// store works with --etcd-cert/--etcd-key/--etcd-ca, and without a client certificate
// it fails to open, saying so, instead of hanging.
func TestTLSClientCertificate(t *testing.T) {
	c := testutil.StartEtcdTLS(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{Endpoints: c.Endpoints(), Prefix: "/tls/", CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, CAFile: c.TLS.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx podmgr.Tx) error { return tx.PutToken(podmgr.Token{ID: "t1", Name: "t1"}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{Endpoints: c.Endpoints(), Prefix: "/tls/", CAFile: c.TLS.CAFile, RequestTimeout: 2 * time.Second}); err == nil {
		t.Fatal("opened a store on members that require a client certificate without one")
	}
}

// TestUnavailableThenRecovers: with the whole cluster down, reads and writes fail within
// the request timeout as ErrStoreUnavailable (the API's 503), and the same store works
// again by itself once etcd is back.
func TestUnavailableThenRecovers(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	s, err := Open(ctx, Config{Endpoints: c.Endpoints(), Prefix: "/down/", RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(id string) error {
		return s.Update(ctx, func(tx podmgr.Tx) error { return tx.PutToken(podmgr.Token{ID: id, Name: id}) })
	}
	if err := put("t1"); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	start := time.Now()
	for name, op := range map[string]func() error{
		"update": func() error { return put("t2") },
		"batch":  func() error { return s.Batch(ctx, func(tx podmgr.Tx) error { return tx.DeleteToken("t1") }) },
		"view":   func() error { return s.View(ctx, func(tx podmgr.ReadTx) error { _, err := tx.Tokens(); return err }) },
	} {
		if err := op(); !errors.Is(err, podmgr.ErrStoreUnavailable) {
			t.Fatalf("%s with etcd down: %v, want ErrStoreUnavailable", name, err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("three operations with etcd down took %s, want each within its 2s timeout", d)
	}
	c.Restart(0)
	testutil.WaitFor(t, 30*time.Second, "writes to work again", func() bool { return put("t3") == nil })
}
