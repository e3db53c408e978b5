package podmgr

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openEventStore(t *testing.T, l EventLimits) *BoltStore {
	t.Helper()
	st, err := OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetEventLimits(l)
	return st
}

func appendEvents(t *testing.T, st *BoltStore, evs ...Event) {
	t.Helper()
	err := st.Update(context.Background(), func(tx Tx) error {
		for _, e := range evs {
			if _, err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readEvents(t *testing.T, st *BoltStore, f EventFilter) []Event {
	t.Helper()
	var out []Event
	if err := st.View(context.Background(), func(tx ReadTx) error {
		var err error
		out, err = tx.Events(f)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostEventRing: a host keeps its newest PerHost events; others are untouched.
func TestHostEventRing(t *testing.T) {
	st := openEventStore(t, EventLimits{PerHost: 5})
	now := time.Now().UTC()
	for i := range 20 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: "52:54:00:00:00:01", Action: fmt.Sprint(i)})
	}
	appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: "52:54:00:00:00:02", Action: "other"},
		Event{Time: now, Kind: KindAudit, Action: "audit"})
	got := readEvents(t, st, EventFilter{Kind: KindHost, MAC: "52:54:00:00:00:01"})
	if len(got) != 5 || got[0].Action != "15" || got[4].Action != "19" {
		t.Fatalf("ring kept %d events %+v, want actions 15..19", len(got), got)
	}
	if all := readEvents(t, st, EventFilter{}); len(all) != 7 {
		t.Fatalf("all events: %d, want 5+1 host and 1 audit", len(all))
	}
}

// TestEventPaging: pages follow the sequence across both kinds, without gaps or repeats.
func TestEventPaging(t *testing.T) {
	st := openEventStore(t, EventLimits{PerHost: 1000})
	now := time.Now().UTC()
	for i := range 50 {
		kind, mac := KindHost, fmt.Sprintf("52:54:00:00:00:%02x", i%3)
		if i%4 == 0 {
			kind, mac = KindAudit, ""
		}
		appendEvents(t, st, Event{Time: now, Kind: kind, MAC: mac, Action: fmt.Sprint(i)})
	}
	tests := []struct {
		name string
		f    EventFilter
		want int
	}{
		{"all", EventFilter{}, 50},
		{"audit", EventFilter{Kind: KindAudit}, 13},
		{"host", EventFilter{Kind: KindHost}, 37},
		{"one host", EventFilter{Kind: KindHost, MAC: "52:54:00:00:00:01"}, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []uint64
			f := tt.f
			f.Limit = 7
			for range 20 {
				page := readEvents(t, st, f)
				if len(page) > 7 {
					t.Fatalf("page of %d events, limit 7", len(page))
				}
				if len(page) == 0 {
					break
				}
				for _, e := range page {
					if len(seen) > 0 && e.Seq <= seen[len(seen)-1] {
						t.Fatalf("seq %d after %d", e.Seq, seen[len(seen)-1])
					}
					seen = append(seen, e.Seq)
				}
				f.After = page[len(page)-1].Seq
			}
			if len(seen) != tt.want {
				t.Fatalf("paged through %d events, want %d", len(seen), tt.want)
			}
		})
	}
}

// TestPruneHostEvents: retention drops the oldest host events past Max and those older
// than MaxAge, keeps audit records, and keeps the per-host counts right.
func TestPruneHostEvents(t *testing.T) {
	st := openEventStore(t, EventLimits{PerHost: 1000})
	old := time.Now().Add(-48 * time.Hour).UTC()
	now := time.Now().UTC()
	for i := range 10 {
		appendEvents(t, st, Event{Time: old, Kind: KindHost, MAC: "52:54:00:00:00:01", Action: fmt.Sprint("old", i)})
	}
	for i := range 30 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: fmt.Sprintf("52:54:00:00:01:%02x", i%2), Action: fmt.Sprint(i)})
	}
	appendEvents(t, st, Event{Time: old, Kind: KindAudit, Action: "audit"})
	n, err := st.PruneHostEvents(EventLimits{Max: 100, MaxAge: time.Hour}, now)
	if err != nil || n != 10 {
		t.Fatalf("age prune deleted %d (%v), want 10", n, err)
	}
	n, err = st.PruneHostEvents(EventLimits{Max: 20, MaxAge: time.Hour}, now)
	if err != nil || n != 10 {
		t.Fatalf("count prune deleted %d (%v), want 10", n, err)
	}
	if got := readEvents(t, st, EventFilter{Kind: KindHost}); len(got) != 20 || got[0].Action != "10" {
		t.Fatalf("after prune: %d host events, first %+v", len(got), got)
	}
	if got := readEvents(t, st, EventFilter{Kind: KindAudit}); len(got) != 1 {
		t.Fatal("audit records must be kept")
	}
	// The counts stay right: the ring of a pruned host still holds PerHost.
	st.SetEventLimits(EventLimits{PerHost: 12})
	for range 5 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: "52:54:00:00:01:00", Action: "new"})
	}
	if got := readEvents(t, st, EventFilter{Kind: KindHost, MAC: "52:54:00:00:01:00"}); len(got) != 12 {
		t.Fatalf("host has %d events, want the ring's 12", len(got))
	}
}

// TestHostEventIndexMigration: a store written before the seq index and the counts
// existed gets both on open, and its events page and ring as new ones do.
func TestHostEventIndexMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 10 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: fmt.Sprintf("52:54:00:00:00:%02x", i%2), Action: fmt.Sprint(i)})
	}
	// Make it an old store: no index, no counts; and then one more event written by an
	// old podboot, which keeps neither.
	if err := st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketHostSeq); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketHostCount)
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = OpenBolt(path); err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		seq, _ := tx.Bucket(bucketAudit).NextSequence()
		return put(tx, bucketHostEvents, hostEventKey("52:54:00:00:00:01", seqKey(seq)), Event{Seq: seq, Time: now, Kind: KindHost, MAC: "52:54:00:00:00:01", Action: "old"})
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := readEvents(t, st, EventFilter{Kind: KindHost, Limit: 4}); len(got) != 4 || got[0].Action != "0" {
		t.Fatalf("first page after migration: %+v", got)
	}
	if got := readEvents(t, st, EventFilter{Kind: KindHost}); len(got) != 11 || got[10].Action != "old" {
		t.Fatalf("after migration: %d host events, want 11 ending with the old podboot's", len(got))
	}
	st.SetEventLimits(EventLimits{PerHost: 5})
	appendEvents(t, st, Event{Time: now, Kind: KindHost, MAC: "52:54:00:00:00:00", Action: "new"})
	if got := readEvents(t, st, EventFilter{Kind: KindHost, MAC: "52:54:00:00:00:00"}); len(got) != 5 || got[4].Action != "new" {
		t.Fatalf("ring after migration: %d events", len(got))
	}
}
