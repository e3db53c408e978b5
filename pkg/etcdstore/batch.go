package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// batcher lets many small concurrent writers (host events, leases) share one etcd
// transaction, as bbolt's Batch does: callers arriving within BatchDelay of each other
// run their fns one after the other on one txn, up to what one etcd request may carry;
// a caller whose fn fails gets its error and its writes are dropped from the txn; a
// conflict runs every fn of the group again.
type batcher struct {
	s       *Store
	mu      sync.Mutex
	pending []*call
	timer   *time.Timer
	closed  bool
}

type call struct {
	ctx  context.Context
	fn   func(podmgr.Tx) error
	done chan error
}

// maxBatch is the most callers one group takes before it starts at once.
const maxBatch = 256

var errClosed = errors.New("etcd store is closed")

func newBatcher(s *Store) *batcher { return &batcher{s: s} }

func (b *batcher) do(ctx context.Context, fn func(podmgr.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	b.pending = append(b.pending, c)
	switch {
	case len(b.pending) >= maxBatch:
		b.startLocked()
	case b.timer == nil:
		b.timer = time.AfterFunc(b.s.cfg.BatchDelay, b.start)
	}
	b.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		// The group may still commit fn's writes; like a cancelled bbolt Batch caller,
		// this caller no longer learns the outcome.
		return ctx.Err()
	}
}

func (b *batcher) start() {
	b.mu.Lock()
	b.startLocked()
	b.mu.Unlock()
}

func (b *batcher) startLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.pending) == 0 {
		return
	}
	calls := b.pending
	b.pending = nil
	go b.s.runGroup(calls)
}

func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
}

// runGroup commits calls in as few transactions as fit, each retried on conflict.
func (s *Store) runGroup(calls []*call) {
	for len(calls) > 0 {
		calls = s.commitSome(calls)
	}
}

// commitSome runs a prefix of calls that fits one transaction until it commits, answers
// those callers and returns the rest.
func (s *Store) commitSome(calls []*call) []*call {
	for attempt := 1; ; attempt++ {
		in, rest, ok, err := s.groupAttempt(calls)
		if len(in) == 0 {
			return rest
		}
		if err == nil && !ok && attempt >= s.cfg.MaxAttempts {
			err = fmt.Errorf("%w (%d attempts)", ErrContention, attempt)
		}
		if ok || err != nil {
			for _, c := range in {
				c.done <- err
			}
			return rest
		}
		// Conflict: run the group's fns again. (Callers answered with their fn's error
		// keep it: like a failed Update, it is their outcome.)
		calls = append(in, rest...)
		_ = s.backoff(context.Background(), attempt)
	}
}

// groupAttempt runs calls' fns on one new txn, as many as fit, and commits them: in are
// the callers whose writes it carries, rest those left for the next transaction.
func (s *Store) groupAttempt(calls []*call) (in, rest []*call, ok bool, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := newTxn(context.Background(), s)
	for i, c := range calls {
		if c.ctx.Err() != nil {
			c.done <- c.ctx.Err()
			continue
		}
		sp := t.savepoint()
		if err := c.fn(&recordTx{t}); err != nil {
			t.rollback(sp)
			if retryable(err) {
				rest = append(rest, c)
			} else {
				c.done <- err
			}
			continue
		}
		if err := t.fits(); err != nil {
			t.rollback(sp)
			if len(in) == 0 {
				c.done <- err // too large on its own
				continue
			}
			ok, err = t.commit()
			return in, append(rest, calls[i:]...), ok, err
		}
		in = append(in, c)
	}
	if len(in) == 0 {
		return nil, rest, false, nil
	}
	ok, err = t.commit()
	return in, rest, ok, err
}
