package etcdstore

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestRangeReadsWithoutStream: a store on an etcd without RangeStream (before 3.7; here
// the store is told so) reads the same hosts, pod indexes and event pages as one that
// streams, across the stream's chunks, the cursor's pages and deletion markers.
func TestRangeReadsWithoutStream(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	streamed := openStore(t, c, "/streams/")
	paged := openStore(t, c, "/streams/")
	paged.streams.missing.Store(true)
	ctx := context.Background()
	// 300 hosts in two pods, each with a registration event, then 40 of them deleted
	// (their markers sit in the ranges), 700 events in all (the cursor pages 256).
	for b := 0; b < 300; b += 20 {
		if err := streamed.Update(ctx, func(tx podmgr.Tx) error {
			for i := b; i < b+20; i++ {
				h := podmgr.Host{MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), Pod: fmt.Sprintf("pod-%d", i%2)}
				if err := tx.PutHost(h); err != nil {
					return err
				}
				if _, err := tx.AppendEvent(podmgr.Event{Kind: podmgr.KindHost, Pod: h.Pod, MAC: h.MAC, Action: "registered"}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for b := 0; b < 400; b += 40 {
		if err := streamed.Update(ctx, func(tx podmgr.Tx) error {
			for i := b; i < b+40; i++ {
				if _, err := tx.AppendEvent(podmgr.Event{Kind: podmgr.KindAudit, Action: fmt.Sprintf("a%d", i)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for b := 100; b < 140; b += 20 {
		if err := streamed.Update(ctx, func(tx podmgr.Tx) error {
			for i := b; i < b+20; i++ {
				if err := tx.DeleteHost(fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	type view struct {
		Hosts   []string
		OfPod   []string
		All     []uint64
		Paged   []uint64
		HostEvs []uint64
	}
	read := func(s *Store) view {
		var v view
		err := s.View(ctx, func(tx podmgr.ReadTx) error {
			if err := tx.EachHost(func(h podmgr.Host) error { v.Hosts = append(v.Hosts, h.MAC); return nil }); err != nil {
				return err
			}
			var err error
			if v.OfPod, err = tx.HostsOfPod("pod-1"); err != nil {
				return err
			}
			all, err := tx.Events(podmgr.EventFilter{})
			for _, e := range all {
				v.All = append(v.All, e.Seq)
			}
			if err != nil {
				return err
			}
			for after := uint64(0); ; {
				page, err := tx.Events(podmgr.EventFilter{After: after, Limit: 100})
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					v.Paged = append(v.Paged, e.Seq)
				}
				after = page[len(page)-1].Seq
			}
			hevs, err := tx.Events(podmgr.EventFilter{Kind: podmgr.KindHost})
			for _, e := range hevs {
				v.HostEvs = append(v.HostEvs, e.Seq)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a, b := read(streamed), read(paged)
	if len(a.Hosts) != 260 || len(a.OfPod) != 130 || len(a.All) != 700 || len(a.Paged) != 700 || len(a.HostEvs) != 300 {
		t.Fatalf("streamed: %d hosts, %d in pod-1, %d events, %d paged, %d host events; want 260, 130, 700, 700, 300",
			len(a.Hosts), len(a.OfPod), len(a.All), len(a.Paged), len(a.HostEvs))
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("streamed and paged reads differ:\n%v\n%v", a, b)
	}
}

// TestPruneCostFollowsDeleted: the retention's cost is what it deletes, not what is
// stored. It used to count every host event and page from the first (deleted ones
// included, which etcd keeps until compaction) in each transaction of 60: on a store of
// a million hosts the retention then held the writer for hours, and imports waited
// behind it (the bench/scale import that hit the CLI's timeout). The same prune (1,800
// events) in a store 25 times bigger, with as many deleted events before the live ones,
// must not take more than 3 times longer (it was 10-20 times).
func TestPruneCostFollowsDeleted(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	const prune = 30 * pruneBatch
	timePrune := func(prefix string, live, deleted int) time.Duration {
		s := openStore(t, c, prefix)
		fillHostEvents(t, s, live+deleted)
		dropOldestEvents(t, s, deleted)
		best := time.Duration(1 << 62)
		for round := range 3 {
			l := podmgr.EventLimits{Max: live - (round+1)*prune}
			start := time.Now()
			n, err := s.PruneHostEvents(l, time.Now())
			d := time.Since(start)
			if err != nil || n != prune {
				t.Fatalf("%s: prune to %d: %d deleted, err %v; want %d", prefix, l.Max, n, err, prune)
			}
			best = min(best, d)
		}
		return best
	}
	small := timePrune("/prune-small/", 6000, 0)
	big := timePrune("/prune-big/", 80000, 80000)
	t.Logf("1,800 events pruned: %s among 6,000; %s among 80,000 (+80,000 deleted)", small, big)
	if big > 3*small+100*time.Millisecond {
		t.Fatalf("pruning 1,800 events took %s in the big store, %s in the small one: the cost grows with what is stored", big, small)
	}
}

// fillHostEvents writes n host events (and the counter) as AppendEvent lays them out,
// straight into etcd in transactions of 64 events (the test needs many, quickly).
func fillHostEvents(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for b := 1; b <= n; b += 63 {
		var ops []clientv3.Op
		for seq := b; seq < b+63 && seq <= n; seq++ {
			mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", seq>>16&0xff, seq>>8&0xff, seq&0xff)
			rec, err := podmgr.EncodeRecord(podmgr.Event{Seq: uint64(seq), Time: now, Kind: podmgr.KindHost, Pod: "p", MAC: mac, Action: "registered"})
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, clientv3.OpPut(s.key(collHostEvents, mac, seqHex(uint64(seq))), string(rec)),
				clientv3.OpPut(s.key(collHostSeq, seqHex(uint64(seq))), mac))
		}
		ops = append(ops, clientv3.OpPut(s.key(collMeta, "event-seq"), fmt.Sprint(min(b+62, n))))
		if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// dropOldestEvents deletes the n oldest events straight from etcd, as another replica's
// retention would: their keys stay in etcd's index until compaction.
func dropOldestEvents(t *testing.T, s *Store, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	ctx := context.Background()
	from, to := s.key(collHostSeq, seqHex(1)), s.key(collHostSeq, seqHex(uint64(n+1)))
	if _, err := s.cli.Delete(ctx, from, clientv3.WithRange(to)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Delete(ctx, s.dir(collHostEvents), clientv3.WithRange(s.key(collHostEvents, fmt.Sprintf("02:00:00:%02x:%02x:%02x", (n+1)>>16&0xff, (n+1)>>8&0xff, (n+1)&0xff)))); err != nil {
		t.Fatal(err)
	}
}
