package podmgr

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// podIndexExact fails unless the pod index has one entry per host event and is marked
// complete up to the event counter.
func podIndexExact(t *testing.T, st *BoltStore, when string) {
	t.Helper()
	if err := st.db.View(func(tx *bolt.Tx) error {
		ix, ev := tx.Bucket(bucketPodEvents).Stats().KeyN, tx.Bucket(bucketHostEvents).Stats().KeyN
		if ix != ev {
			return fmt.Errorf("%d pod index entries for %d host events", ix, ev)
		}
		if v := tx.Bucket(bucketMeta).Get(keyPodEventsSeq); len(v) != 8 || tx.Bucket(bucketAudit).Sequence() != uint64FromKey(v) {
			return fmt.Errorf("index marked up to %x, counter at %d", v, tx.Bucket(bucketAudit).Sequence())
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

func uint64FromKey(v []byte) uint64 {
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return n
}

// podDay is what pod status reads: a pod's host events of the last day.
func podDay(t *testing.T, st *BoltStore, pod string, now time.Time) []Event {
	return readEvents(t, st, EventFilter{Kind: KindHost, Pod: pod, Since: now.Add(-24 * time.Hour)})
}

// scanDay is the same read done the old way: every host event, filtered in memory.
func scanDay(t *testing.T, st *BoltStore, pod string, now time.Time) []Event {
	var out []Event
	for _, e := range readEvents(t, st, EventFilter{Kind: KindHost}) {
		if e.Pod == pod && !e.Time.Before(now.Add(-24*time.Hour)) {
			out = append(out, e)
		}
	}
	return out
}

// TestPodEventIndexKeptExact: ring trims, retention and audit records keep one index
// entry per host event, and reads by pod agree with the scan.
func TestPodEventIndexKeptExact(t *testing.T) {
	st := openEventStore(t, EventLimits{PerHost: 4})
	now := time.Now().UTC()
	for i := range 60 {
		appendEvents(t, st,
			Event{Time: now.Add(-time.Duration(i%30) * 2 * time.Hour), Kind: KindHost, Pod: fmt.Sprint("pod-", i%3), MAC: fmt.Sprintf("52:54:00:00:00:%02x", i%5), Action: fmt.Sprint(i)},
			Event{Time: now, Kind: KindAudit, Pod: "pod-0", Action: "audit"})
	}
	podIndexExact(t, st, "after appends past the rings")
	if _, err := st.PruneHostEvents(EventLimits{Max: 12, MaxAge: 40 * time.Hour}, now); err != nil {
		t.Fatal(err)
	}
	podIndexExact(t, st, "after retention")
	for _, pod := range []string{"pod-0", "pod-1", "pod-2"} {
		got, want := podDay(t, st, pod, now), scanDay(t, st, pod, now)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: by index %v, by scan %v", pod, got, want)
		}
	}
}

// TestPodEventIndexMigration: a store written before the pod index existed, or written
// meanwhile by an older podboot (an append the index missed, a trim that left an entry
// behind), gets the index rebuilt on open.
func TestPodEventIndexMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "podboot.db")
	now := time.Now().UTC()
	reopen := func(st *BoltStore, damage func(tx *bolt.Tx) error) *BoltStore {
		t.Helper()
		if err := st.db.Update(damage); err != nil {
			t.Fatal(err)
		}
		st.Close()
		st, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, Pod: fmt.Sprint("pod-", i%2), MAC: fmt.Sprintf("52:54:00:00:00:%02x", i%4), Action: fmt.Sprint(i)})
	}
	want := podDay(t, st, "pod-1", now)
	oldAppend := func(tx *bolt.Tx) error { // what an older podboot's AppendEvent writes
		seq, _ := tx.Bucket(bucketAudit).NextSequence()
		e := Event{Seq: seq, Time: now, Kind: KindHost, Pod: "pod-1", MAC: "52:54:00:00:00:01", Action: "old"}
		want = append(want, e)
		if err := tx.Bucket(bucketHostSeq).Put(seqKey(seq), []byte(e.MAC)); err != nil {
			return err
		}
		return put(tx, bucketHostEvents, hostEventKey(e.MAC, seqKey(seq)), e)
	}
	tests := []struct {
		name   string
		damage func(tx *bolt.Tx) error
	}{
		{"written before the index", func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketMeta).Delete(keyPodEventsSeq); err != nil {
				return err
			}
			return tx.DeleteBucket(bucketPodEvents)
		}},
		{"an older podboot appended", oldAppend},
		{"an older podboot trimmed", func(tx *bolt.Tx) error {
			// Its event stays in the index; the counter does not move.
			k, _ := tx.Bucket(bucketHostSeq).Cursor().First()
			mac := tx.Bucket(bucketHostSeq).Get(k)
			var e Event
			if err := decode(tx.Bucket(bucketHostEvents).Get(hostEventKey(string(mac), k)), &e); err != nil {
				return err
			}
			if e.Pod == "pod-1" {
				want = want[1:]
			}
			if err := tx.Bucket(bucketHostSeq).Delete(k); err != nil {
				return err
			}
			return tx.Bucket(bucketHostEvents).Delete(hostEventKey(string(mac), k))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st = reopen(st, tt.damage)
			podIndexExact(t, st, "after open")
			if got := podDay(t, st, "pod-1", now); !reflect.DeepEqual(got, want) {
				t.Fatalf("by index %v, want %v", got, want)
			}
		})
	}
}

// TestDamagedEventBlocksNothing: a host event record that cannot be decoded does not stop
// the pod index's rebuild on open, the ring's trim or retention, and the index stays
// exact.
func TestDamagedEventBlocksNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	const mac = "52:54:00:00:00:01"
	for i := range 6 {
		appendEvents(t, st, Event{Time: now, Kind: KindHost, Pod: "pod-a", MAC: mac, Action: fmt.Sprint(i)})
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketHostEvents).Cursor().First()
		if err := tx.Bucket(bucketHostEvents).Put(k, []byte("\x01{damaged")); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketPodEvents)
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = OpenBolt(path); err != nil {
		t.Fatalf("open with a damaged event: %v", err)
	}
	defer st.Close()
	podIndexExact(t, st, "after the rebuild")
	st.SetEventLimits(EventLimits{PerHost: 5})
	appendEvents(t, st, Event{Time: now, Kind: KindHost, Pod: "pod-a", MAC: mac, Action: "trims the damaged one"})
	podIndexExact(t, st, "after the trim")
	if got := readEvents(t, st, EventFilter{Kind: KindHost, MAC: mac}); len(got) != 5 || got[0].Action != "2" {
		t.Fatalf("after the trim: %+v", got)
	}
	if n, err := st.PruneHostEvents(EventLimits{Max: 2}, now); err != nil || n != 3 {
		t.Fatalf("prune: %d (%v), want 3", n, err)
	}
	podIndexExact(t, st, "after retention")
}
