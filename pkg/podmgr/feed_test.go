package podmgr

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

type recordingHandler struct {
	mu   sync.Mutex
	revs []uint64
}

func (h *recordingHandler) Load(uint64, ReadTx) error { return nil }
func (h *recordingHandler) Apply(rev uint64, _ []Change) {
	h.mu.Lock()
	h.revs = append(h.revs, rev)
	h.mu.Unlock()
}

// bbolt runs commit handlers after releasing its writer lock, so two commits' handlers
// can run in either order: the feed must still deliver them in commit order, skip what
// the follower loaded, and not wait for a transaction that rolled back.
func TestBoltFeedDeliversInCommitOrder(t *testing.T) {
	h := &recordingHandler{}
	f := &boltFeed{subs: []boltSub{{h: h, from: 4}}}
	c := map[uint64]*boltCommit{}
	for _, id := range []uint64{4, 5, 6, 7} {
		c[id] = &boltCommit{id: id, log: &changeLog{}}
		f.queue = append(f.queue, c[id])
	}
	f.settle(c[6], true)
	f.settle(c[7], true)
	if len(h.revs) != 0 {
		t.Fatalf("delivered %v before commits 4 and 5", h.revs)
	}
	f.settle(c[5], true)
	if len(h.revs) != 0 {
		t.Fatalf("delivered %v before commit 4", h.revs)
	}
	f.settle(c[4], true)
	if want := []uint64{5, 6, 7}; !reflect.DeepEqual(h.revs, want) {
		t.Fatalf("delivered %v, want %v (4 was loaded)", h.revs, want)
	}
}

// A write transaction that rolls back (its fn failed) or changes no record does not
// hold up the commits after it.
func TestBoltFeedSkipsRolledBackTransactions(t *testing.T) {
	st, err := OpenBolt(t.TempDir() + "/db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := &recordingHandler{}
	ctx := context.Background()
	if err := st.Follow(ctx, h); err != nil {
		t.Fatal(err)
	}
	errBoom := ErrInvalid
	if err := st.Update(ctx, func(tx Tx) error { _ = tx.PutProfile(Profile{Name: "a"}); return errBoom }); err != errBoom {
		t.Fatal(err)
	}
	// Retention writes go through the feed too (they change no record).
	if _, err := st.PruneHostEvents(EventLimits{Max: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var rev uint64
	if err := st.Update(ctx, func(tx Tx) error { tx.OnCommit(func(r uint64) { rev = r }); return tx.PutProfile(Profile{Name: "b"}) }); err != nil {
		t.Fatal(err)
	}
	if len(h.revs) == 0 || h.revs[len(h.revs)-1] != rev {
		t.Fatalf("delivered %v, want the last to be %d", h.revs, rev)
	}
}
