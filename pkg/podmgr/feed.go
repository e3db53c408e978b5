package podmgr

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// The registry learns of every change one way: the store's change feed. A store reports
// each committed transaction with its revision, in commit order (bbolt from its commit
// handlers, etcd from a watch), and the registry applies the records it changed. So a
// change another replica commits reaches this replica's DHCP/TFTP/HTTP paths like one
// of its own, and memory never goes back in time: revisions only grow.

// ChangeKind is the kind of record a Change carries.
type ChangeKind uint8

// The records the registry holds.
const (
	ChangePod ChangeKind = iota + 1
	ChangeProfile
	ChangeHost
	ChangeToken
)

// Change is one record a commit stored or deleted. Key is the pod or profile name, the
// host's MAC or the token's ID; for a stored record the matching field holds it.
type Change struct {
	Kind    ChangeKind
	Key     string
	Deleted bool
	Pod     Pod
	Profile Profile
	Host    Host
	Token   Token
}

// FeedHandler is what a store's feed drives.
type FeedHandler interface {
	// Load (re)builds the picture from one snapshot at revision rev. A feed calls it
	// again when it cannot deliver every change since (etcd compacted them).
	Load(rev uint64, tx ReadTx) error
	// Apply applies the changes of the commit at revision rev. Revisions grow.
	Apply(rev uint64, changes []Change)
}

// follower is the Manager's FeedHandler: it keeps the registry and says which revision
// the registry shows, so a writer can wait for its own commit.
type follower struct {
	m       *Manager
	applied atomic.Uint64
	mu      sync.Mutex
	advance chan struct{} // closed and replaced each time applied grows
}

func newFollower(m *Manager) *follower {
	return &follower{m: m, advance: make(chan struct{})}
}

// Load implements FeedHandler: a new registry from the snapshot replaces the contents
// of the one the services hold.
func (f *follower) Load(rev uint64, tx ReadTx) error {
	r := newRegistry()
	if err := loadRegistry(r, tx, rev); err != nil {
		return err
	}
	f.m.reg.replace(r)
	f.moveTo(rev)
	return nil
}

// Apply implements FeedHandler.
func (f *follower) Apply(rev uint64, changes []Change) {
	if len(changes) > 0 {
		f.m.reg.apply(rev, changes, f.m.log)
	}
	f.moveTo(rev)
}

func (f *follower) moveTo(rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rev <= f.applied.Load() {
		return
	}
	f.applied.Store(rev)
	close(f.advance)
	f.advance = make(chan struct{})
}

// feedWait bounds how long a writer waits to see its own commit in the registry; past
// it the write has still succeeded (the store has it) and the registry catches up.
const feedWait = 10 * time.Second

// wait returns once the registry shows revision rev, or after feedWait.
func (f *follower) wait(ctx context.Context, rev uint64) {
	if rev == 0 || f.applied.Load() >= rev {
		return
	}
	deadline := time.NewTimer(feedWait)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		if f.applied.Load() >= rev {
			f.mu.Unlock()
			return
		}
		ch := f.advance
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-deadline.C:
			f.m.log.Warn("registry has not caught up with a commit yet", "rev", rev, "applied", f.applied.Load())
			return
		}
	}
}

// Revision is the store revision the registry shows.
func (m *Manager) Revision() uint64 { return m.feed.applied.Load() }

// commitRev registers, on tx, that *rev receives the revision the commit gets.
func commitRev(tx Tx, rev *uint64) { tx.OnCommit(func(r uint64) { *rev = r }) }

// update is store.Update followed by waiting until the registry shows the commit, so
// the caller (and its next request) sees its own change.
func (m *Manager) update(ctx context.Context, fn func(Tx) error) error {
	return m.commitAndWait(ctx, m.store.Update, fn)
}

// batch is update through store.Batch.
func (m *Manager) batch(ctx context.Context, fn func(Tx) error) error {
	return m.commitAndWait(ctx, m.store.Batch, fn)
}

// commitAndWait runs fn through run (the store's Update or Batch) and waits for the
// registry to reach the commit's revision.
func (m *Manager) commitAndWait(ctx context.Context, run func(context.Context, func(Tx) error) error, fn func(Tx) error) error {
	var rev uint64
	err := run(ctx, func(tx Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		commitRev(tx, &rev)
		return nil
	})
	if err == nil {
		m.feed.wait(ctx, rev)
	}
	return err
}

// loadRegistry fills r from one snapshot at revision rev.
func loadRegistry(r *Registry, tx ReadTx, rev uint64) error {
	profiles, err := tx.Profiles()
	if err != nil {
		return err
	}
	for _, p := range profiles {
		r.profiles[p.Name] = p
	}
	pods, err := tx.Pods()
	if err != nil {
		return err
	}
	for _, p := range pods {
		pc, err := validatePod(&p)
		if err != nil {
			return fmt.Errorf("%w: stored pod %s no longer validates: %v", ErrStoreCorrupt, p.Name, err)
		}
		pc.Profile = r.profiles[p.Profile]
		r.putPodLocked(pc)
	}
	if err := tx.EachHost(func(h Host) error {
		if pc, ok := r.pods[h.Pod]; ok {
			h.Pod = pc.Pod.Name // one string per pod, not per host
		}
		h.State = internState(h.State)
		h.rev = rev
		r.putHostLocked(&h)
		return nil
	}); err != nil {
		return err
	}
	tokens, err := tx.Tokens()
	if err != nil {
		return err
	}
	for _, t := range tokens {
		r.tokens[t.Hash] = t
	}
	return nil
}

// replace swaps in the contents of n (a fresh load), keeping r the pointer the services
// hold.
func (r *Registry) replace(n *Registry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods, r.profiles, r.hosts, r.podHosts = n.pods, n.profiles, n.hosts, n.podHosts
	r.match, r.tokens, r.discovered, r.reserved, r.states = n.match, n.tokens, n.discovered, n.reserved, n.states
}

// apply applies one commit's changes under one lock.
func (r *Registry) apply(rev uint64, changes []Change, log *slog.Logger) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range changes {
		c := &changes[i]
		switch {
		case c.Kind == ChangePod && c.Deleted:
			r.deletePodLocked(c.Key)
		case c.Kind == ChangePod:
			p := c.Pod
			pc, err := validatePod(&p)
			if err != nil {
				log.Error("stored pod no longer validates; the registry keeps its old copy", "pod", p.Name, "rev", rev, "err", err)
				continue
			}
			pc.Profile = r.profiles[p.Profile]
			r.putPodLocked(pc)
		case c.Kind == ChangeProfile && c.Deleted:
			delete(r.profiles, c.Key)
		case c.Kind == ChangeProfile:
			r.putProfileLocked(c.Profile)
		case c.Kind == ChangeHost && c.Deleted:
			r.deleteHostLocked(c.Key)
		case c.Kind == ChangeHost:
			h := c.Host
			if pc, ok := r.pods[h.Pod]; ok {
				h.Pod = pc.Pod.Name
			}
			h.State = internState(h.State)
			h.rev = rev
			r.putHostLocked(&h)
		case c.Kind == ChangeToken:
			for hash, t := range r.tokens {
				if t.ID == c.Key {
					delete(r.tokens, hash)
				}
			}
			if !c.Deleted {
				r.tokens[c.Token.Hash] = c.Token
			}
		}
	}
}
