package podmgr

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// bbolt's change feed: each write transaction logs the records it changes, and its
// commit handler hands the log to the followers with the transaction's ID as revision.
// bbolt runs commit handlers after it has released the writer lock, so two commits'
// handlers may run in either order: the feed queues transactions in the order they
// began (under the writer lock) and delivers a commit only when every earlier one was
// delivered. A transaction whose fn failed is dropped from the queue at once (bbolt
// rolls it back), and so is one whose commit failed; a transaction that rolled back
// otherwise reuses its ID in the next one, which drops it too. Every write of the
// store goes through writeTx.

// changeLog is what one write transaction changed.
type changeLog struct{ changes []Change }

func (l *changeLog) add(c Change) {
	if l != nil {
		l.changes = append(l.changes, c)
	}
}

type boltFeed struct {
	// cur and curLog are the write transaction being built; only touched under bbolt's
	// writer lock.
	cur       *bolt.Tx
	curLog    *changeLog
	curCommit *boltCommit

	mu    sync.Mutex
	queue []*boltCommit // begun, not yet delivered, in begin order
	subs  []boltSub
}

type boltCommit struct {
	id      uint64
	log     *changeLog
	done    bool
	aborted bool // rolled back: nothing to deliver
}

type boltSub struct {
	h    FeedHandler
	from uint64 // the revision it loaded
}

// write runs fn in bbolt's write transaction tx, logging its changes for the feed. c is
// the feed's entry for tx.
func (s *BoltStore) write(tx *bolt.Tx, c **boltCommit, fn func(Tx) error) error {
	t := s.writeTx(tx)
	*c = s.feed.curCommit
	if err := fn(t); err != nil {
		s.feed.settle(*c, false) // bbolt rolls tx back
		return err
	}
	return nil
}

// writeTx is the Tx for bbolt's write transaction tx, logging into tx's change log.
func (s *BoltStore) writeTx(tx *bolt.Tx) boltTx {
	f := &s.feed
	if f.cur != tx {
		c := &boltCommit{id: uint64(tx.ID()), log: &changeLog{}}
		f.mu.Lock()
		q := f.queue[:0]
		for _, p := range f.queue {
			if p.done || p.id < c.id { // others never committed: their ID is this one's
				q = append(q, p)
			}
		}
		f.queue = append(q, c)
		f.mu.Unlock()
		f.cur, f.curLog, f.curCommit = tx, c.log, c
		tx.OnCommit(func() { f.settle(c, true) })
	}
	return boltTx{tx: tx, perHost: s.perHost, log: f.curLog}
}

// settle marks c committed or rolled back and delivers the commits at the head of the
// queue that are settled, in order.
func (f *boltFeed) settle(c *boltCommit, committed bool) {
	if c == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.done {
		return
	}
	c.done, c.aborted = true, !committed
	for len(f.queue) > 0 && f.queue[0].done {
		p := f.queue[0]
		f.queue[0] = nil
		f.queue = f.queue[1:]
		if p.aborted {
			continue
		}
		for _, sub := range f.subs {
			if p.id > sub.from {
				sub.h.Apply(p.id, p.log.changes)
			}
		}
	}
}

// Follow implements Store: h loads one snapshot, then gets every later commit.
func (s *BoltStore) Follow(ctx context.Context, h FeedHandler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := &s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	return s.db.View(func(tx *bolt.Tx) error {
		rev := uint64(tx.ID())
		if err := h.Load(rev, boltTx{tx: tx, perHost: s.perHost}); err != nil {
			return err
		}
		f.subs = append(f.subs, boltSub{h: h, from: rev})
		return nil
	})
}

// OnCommit implements Tx.
func (t boltTx) OnCommit(fn func(rev uint64)) {
	id := uint64(t.tx.ID()) // the Tx is closed when the handler runs
	t.tx.OnCommit(func() { fn(id) })
}
