package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// The change feed: a replica loads one snapshot, then watches the whole prefix from the
// next revision and hands each revision's record changes to the follower, in revision
// order (etcd delivers a watch's events in order, none lost). Every commit of this
// replica and of the others comes this way. The watch requires a leader: a member cut
// off from the others cancels it rather than go silent, and the feed resumes from the
// last revision it delivered. A watch that fell behind compaction cannot resume: the
// feed loads a new snapshot and goes on from there.

// errWatchClosed says the watch channel closed without an error (the client closed).
var errWatchClosed = errors.New("etcd watch closed")

// Follow implements podmgr.Store.
func (s *Store) Follow(ctx context.Context, h podmgr.FeedHandler) error {
	rev, err := s.load(ctx, h)
	if err != nil {
		return err
	}
	go s.follow(rev, h)
	return nil
}

// load runs h.Load on a new snapshot and returns its revision.
func (s *Store) load(ctx context.Context, h podmgr.FeedHandler) (int64, error) {
	var rev int64
	err := s.View(ctx, func(tx podmgr.ReadTx) error {
		t := tx.(*recordTx).t
		if _, err := t.fetch(s.key(collMeta, "schema")); err != nil { // fixes the snapshot
			return err
		}
		rev = t.rev
		return h.Load(uint64(t.rev), tx)
	})
	return rev, err
}

// follow watches from rev until the store closes.
func (s *Store) follow(rev int64, h podmgr.FeedHandler) {
	ctx := s.life
	for ctx.Err() == nil {
		var err error
		rev, err = s.watchFrom(ctx, rev, h)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			s.cfg.Log.Warn("change feed fell behind etcd's compaction: loading the store again", "rev", rev, "err", err)
			rev = s.reload(ctx, rev, h)
			continue
		}
		s.cfg.Log.Warn("change feed interrupted; resuming", "rev", rev, "err", err)
		sleep(ctx, 200*time.Millisecond)
	}
}

// reload loads a new snapshot, retrying until it works or the store closes.
func (s *Store) reload(ctx context.Context, rev int64, h podmgr.FeedHandler) int64 {
	for d := 100 * time.Millisecond; ctx.Err() == nil; d = min(2*d, 5*time.Second) {
		r, err := s.load(ctx, h)
		if err == nil {
			return r
		}
		s.cfg.Log.Warn("change feed: load failed; retrying", "rev", rev, "err", err)
		sleep(ctx, d)
	}
	return rev
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// watchFrom delivers every revision after rev until the watch ends; it returns the last
// revision delivered and why the watch ended.
func (s *Store) watchFrom(ctx context.Context, rev int64, h podmgr.FeedHandler) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return rev, err
		}
		evs := resp.Events
		for i := 0; i < len(evs); {
			r := evs[i].Kv.ModRevision
			var changes []podmgr.Change
			for ; i < len(evs) && evs[i].Kv.ModRevision == r; i++ {
				if c, ok := s.change(evs[i]); ok {
					changes = append(changes, c)
				}
			}
			h.Apply(uint64(r), changes)
			rev = r
		}
	}
	return rev, errWatchClosed
}

// change turns one watch event into a registry change; ok is false for keys the
// registry does not hold (indexes, leases, events, markers).
func (s *Store) change(ev *clientv3.Event) (podmgr.Change, bool) {
	coll, name, _ := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), s.prefix), "/")
	if name == "" || strings.Contains(name, "/") {
		return podmgr.Change{}, false
	}
	c := podmgr.Change{Key: name, Deleted: ev.Type == mvccpb.DELETE}
	var err error
	switch coll {
	case collPods:
		c.Kind = podmgr.ChangePod
		if !c.Deleted {
			err = podmgr.DecodeRecord(ev.Kv.Value, &c.Pod)
		}
	case collProfiles:
		c.Kind = podmgr.ChangeProfile
		if !c.Deleted {
			err = podmgr.DecodeRecord(ev.Kv.Value, &c.Profile)
		}
	case collHosts:
		c.Kind = podmgr.ChangeHost
		if !c.Deleted {
			err = podmgr.DecodeHost(ev.Kv.Value, &c.Host)
		}
	case collTokens:
		c.Kind = podmgr.ChangeToken
		if !c.Deleted {
			err = podmgr.DecodeRecord(ev.Kv.Value, &c.Token)
		}
	default:
		return podmgr.Change{}, false
	}
	if err != nil {
		s.cfg.Log.Error("change feed: record does not decode; the registry keeps its old copy", "key", fmt.Sprintf("%s/%s", coll, name), "rev", ev.Kv.ModRevision, "err", err)
		return podmgr.Change{}, false
	}
	return c, true
}
