package etcdstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// eventStore is what both stores offer for events.
type eventStore interface {
	podmgr.Store
	SetEventLimits(podmgr.EventLimits)
	PruneHostEvents(podmgr.EventLimits, time.Time) (int, error)
}

var indexPods = []string{"pod-a", "pod-b", "pod-c", "pod-d"}

// appendRandomEvents appends n events chosen by r, in transactions of up to 7: host
// events of four pods (and none) on twelve hosts, and audit records, with times going
// from two days ago to now, up to three hours out of sequence order (as concurrent
// writers and replicas' clocks leave them), some zero.
func appendRandomEvents(t testing.TB, st podmgr.Store, r *rand.Rand, now time.Time, n int) {
	t.Helper()
	for left := n; left > 0; {
		k := min(left, 1+r.IntN(7))
		evs := make([]podmgr.Event, k)
		for i := range evs {
			at := now.Add(-48 * time.Hour).Add(time.Duration(n-left+i) * 48 * time.Hour / time.Duration(n))
			e := podmgr.Event{Kind: podmgr.KindHost, Time: at.Add(time.Duration(r.IntN(6*60)-3*60) * time.Minute),
				Pod: indexPods[r.IntN(len(indexPods))], MAC: fmt.Sprintf("52:54:00:00:02:%02x", r.IntN(12)), Action: fmt.Sprint("a", r.IntN(1000))}
			switch r.IntN(10) {
			case 0:
				e.Kind, e.MAC = podmgr.KindAudit, ""
			case 1:
				e.Pod = ""
			case 2:
				e.Time = time.Time{}
			}
			evs[i] = e
		}
		left -= k
		if err := st.Update(context.Background(), func(tx podmgr.Tx) error {
			for _, e := range evs {
				if _, err := tx.AppendEvent(e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func events(t testing.TB, st podmgr.Store, f podmgr.EventFilter) []podmgr.Event {
	t.Helper()
	var evs []podmgr.Event
	if err := st.View(context.Background(), func(tx podmgr.ReadTx) (err error) { evs, err = tx.Events(f); return }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkPodFilter compares reads by pod with the full scan filtered in memory, for every
// pod, both kinds and a range of Since, After and Limit (After 0 and 100 read through
// the pod index, the last podmgr.SeqWalkMax events walk the sequence); it returns
// every answer, for comparing stores.
func checkPodFilter(t *testing.T, st podmgr.Store, now time.Time) [][]podmgr.Event {
	t.Helper()
	var answers [][]podmgr.Event
	for _, kind := range []podmgr.EventKind{podmgr.KindHost, ""} {
		all := events(t, st, podmgr.EventFilter{Kind: kind})
		top := all[len(all)-1].Seq
		if top < podmgr.SeqWalkMax+200 {
			t.Fatalf("%d events: too few to read through the pod index", top)
		}
		for _, pod := range indexPods {
			for _, since := range []time.Time{{}, now.Add(-24 * time.Hour), now.Add(-time.Hour), now.Add(time.Hour)} {
				for _, after := range []uint64{0, 100, top - podmgr.SeqWalkMax/2, 1 << 40} {
					for _, limit := range []int{0, 3} {
						f := podmgr.EventFilter{Kind: kind, Pod: pod, Since: since, After: after, Limit: limit}
						var want []podmgr.Event
						for _, e := range all {
							if e.Pod == pod && !e.Time.Before(since) && e.Seq > after && (limit == 0 || len(want) < limit) {
								want = append(want, e)
							}
						}
						got := events(t, st, f)
						if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
							t.Fatalf("%+v: %d events, the full scan gives %d:\n got %v\nwant %v", f, len(got), len(want), seqs(got), seqs(want))
						}
						answers = append(answers, got)
					}
				}
			}
		}
	}
	return answers
}

func seqs(evs []podmgr.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// TestPodEventIndexMatchesScan: in both stores, reading a pod's host events since a time
// through the pod index gives what the full scan filtered in memory gives, with rings
// trimming, after retention by age and by count, and after more appends; and both
// stores give the same answers.
func TestPodEventIndexMatchesScan(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	now := time.Now().UTC().Truncate(time.Second)
	stores := []struct {
		name string
		st   eventStore
	}{{"bbolt", openBolt(t)}, {"etcd", openStore(t, c, "/podevents/")}}
	var answers [][][]podmgr.Event
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.st
			st.SetEventLimits(podmgr.EventLimits{PerHost: 80})
			r := rand.New(rand.NewPCG(7, 17))
			var got [][]podmgr.Event
			steps := []struct {
				name string
				do   func()
			}{
				{"appends past the rings", func() { appendRandomEvents(t, st, r, now, 1300) }},
				{"retention by age", func() { prune(t, st, podmgr.EventLimits{Max: 5000, MaxAge: 30 * time.Hour}, now) }},
				{"retention by count", func() { prune(t, st, podmgr.EventLimits{Max: 700, MaxAge: 1000 * time.Hour}, now) }},
				{"more appends", func() { appendRandomEvents(t, st, r, now, 60) }},
			}
			for _, step := range steps {
				step.do()
				got = append(got, checkPodFilter(t, st, now)...)
				if es, ok := st.(*Store); ok {
					checkIndexExact(t, es, step.name)
				}
			}
			answers = append(answers, got)
		})
	}
	if len(answers) == 2 && !reflect.DeepEqual(answers[0], answers[1]) {
		t.Fatal("bbolt and etcd answer the same reads differently")
	}
}

func prune(t *testing.T, st eventStore, l podmgr.EventLimits, now time.Time) {
	t.Helper()
	if n, err := st.PruneHostEvents(l, now); err != nil || n == 0 {
		t.Fatalf("prune %+v: deleted %d (%v), want some", l, n, err)
	}
}

// checkIndexExact fails unless the etcd index is complete and has one entry per host
// event: reads use it, and nothing deleted left an entry behind.
func checkIndexExact(t *testing.T, s *Store, step string) {
	t.Helper()
	ctx := context.Background()
	if ok, err := s.eventIndexComplete(ctx); err != nil || !ok {
		t.Fatalf("after %s: index not complete (%v): reads by pod scan everything", step, err)
	}
	count := func(coll string) int64 {
		resp, err := s.cli.Get(ctx, s.dir(coll), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	if ev, ix := count(collHostEvents), count(collPodEvents); ev != ix {
		t.Fatalf("after %s: %d host events, %d pod index entries", step, ev, ix)
	}
}

// TestPodEventIndexFilledOnUpgrade: a prefix written before the index existed (no
// entries, no mark) answers reads by pod right at once (the full scan); a replica
// opening it fills the index, after which reads use it and still agree.
func TestPodEventIndexFilledOnUpgrade(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	now := time.Now().UTC().Truncate(time.Second)
	old := openStore(t, c, "/upgrade/")
	old.SetEventLimits(podmgr.EventLimits{PerHost: 80})
	appendRandomEvents(t, old, rand.New(rand.NewPCG(3, 5)), now, 1250)
	checkPodFilter(t, old, now)
	ctx := context.Background()
	// Hold the fill lock while the index is missing, so that this replica's background
	// check does not fill it before the reads below.
	lease, err := old.cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.cli.Put(ctx, old.key(collMeta, keyIndexLock), "", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{old.dir(collPodEvents), old.key(collMeta, keyIndexSeq)} {
		if _, err := old.cli.Delete(ctx, k, clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	}
	// More events while the index is missing: not marked, so the gap stays visible.
	appendRandomEvents(t, old, rand.New(rand.NewPCG(4, 6)), now, 40)
	if ok, err := old.eventIndexComplete(ctx); err != nil || ok {
		t.Fatalf("index complete (%v) without its entries", err)
	}
	want := checkPodFilter(t, old, now) // the full scan
	if _, err := old.cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	upgraded := openStore(t, c, "/upgrade/")
	testutil.WaitFor(t, 60*time.Second, "a replica to fill the index", func() bool {
		ok, err := upgraded.eventIndexComplete(ctx)
		return err == nil && ok
	})
	checkIndexExact(t, upgraded, "the fill")
	if got := checkPodFilter(t, upgraded, now); !reflect.DeepEqual(got, want) {
		t.Fatal("reads through the filled index differ from the full scan's")
	}
	if n, err := upgraded.IndexEvents(ctx); err != nil || n != 0 {
		t.Fatalf("a second fill indexed %d events (%v), want none", n, err)
	}
	if !slices.EqualFunc(want, checkPodFilter(t, old, now), func(a, b []podmgr.Event) bool { return reflect.DeepEqual(a, b) }) {
		t.Fatal("the other replica reads differently")
	}
}

// TestPodEventIndexFilledByOneReplica: while one replica holds the fill lock, another
// leaves the gap to it; once the lock is gone (its lease ended), the gap is filled and
// the lock released.
func TestPodEventIndexFilledByOneReplica(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	st := openStore(t, c, "/onefill/")
	appendRandomEvents(t, st, rand.New(rand.NewPCG(8, 9)), time.Now(), 60)
	lease, err := st.cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	// The lock first, so that this store's own background check cannot fill either.
	if _, err := st.cli.Put(ctx, st.key(collMeta, keyIndexLock), "", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.cli.Delete(ctx, st.key(collMeta, keyIndexSeq)); err != nil {
		t.Fatal(err)
	}
	if err := st.fillEventIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.eventIndexComplete(ctx); err != nil || ok {
		t.Fatalf("filled (%v) while another replica held the lock", err)
	}
	if _, err := st.cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.fillEventIndex(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the gap filled and the lock released", func() bool {
		ok, err := st.eventIndexComplete(ctx)
		resp, gerr := st.cli.Get(ctx, st.key(collMeta, keyIndexLock))
		return err == nil && ok && gerr == nil && len(resp.Kvs) == 0
	})
}
