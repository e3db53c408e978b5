package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Filling the pod event index (podevents.go): a prefix written before the index existed
// has none, and one an older replica appended to has a gap. Every replica checks at
// Open and then every indexCheckEvery; one that finds a gap takes the fill lock (a key
// bound to a lease, so one replica fills and a dead one's lock expires) and fills it.
// The fill is idempotent: it puts the entries the events name, whoever put them first.

// indexCheckEvery is how often a replica looks for a gap in the index.
const indexCheckEvery = 10 * time.Second

// indexBatch is how many host events one fill transaction indexes (a compare and a put
// each, within the 128 operations of a transaction).
const indexBatch = 50

const keyIndexLock = "event-index-filler"

// watchEventIndex fills the index whenever it has a gap, until the store closes.
func (s *Store) watchEventIndex() {
	t := time.NewTicker(indexCheckEvery)
	defer t.Stop()
	for {
		if err := s.fillEventIndex(s.life); err != nil && s.life.Err() == nil && !errors.Is(err, podmgr.ErrStoreUnavailable) && !unavailable(err) {
			s.cfg.Log.Warn("fill the pod event index (reads by pod scan every event meanwhile)", "error", err)
		}
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		}
	}
}

// fillEventIndex fills the index's gap, if any, unless another replica is filling it.
func (s *Store) fillEventIndex(ctx context.Context) error {
	complete, err := s.eventIndexComplete(ctx)
	if err != nil || complete {
		return err
	}
	c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	lease, err := s.cli.Grant(c, 30)
	cancel()
	if err != nil {
		return fmt.Errorf("lease for the fill lock: %w", err)
	}
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		_, _ = s.cli.Revoke(c, lease.ID) // frees the lock; its TTL would too
	}()
	lock := s.key(collMeta, keyIndexLock)
	c, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
	resp, err := s.cli.Txn(c).If(clientv3.Compare(clientv3.CreateRevision(lock), "=", 0)).
		Then(clientv3.OpPut(lock, "", clientv3.WithLease(lease.ID))).Commit()
	cancel()
	if err != nil {
		return fmt.Errorf("take the fill lock: %w", err)
	}
	if !resp.Succeeded {
		return nil // another replica fills
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	alive, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return fmt.Errorf("keep the fill lock: %w", err)
	}
	go func() {
		for range alive {
		}
	}()
	n, err := s.IndexEvents(ctx)
	if err == nil {
		s.cfg.Log.Info("filled the pod event index", "events", n)
	}
	return err
}

// eventIndexComplete reports whether the index covers every event now.
func (s *Store) eventIndexComplete(ctx context.Context) (bool, error) {
	var complete bool
	err := s.View(ctx, func(tx podmgr.ReadTx) error {
		var err error
		_, complete, err = tx.(*recordTx).podIndexComplete()
		return err
	})
	return complete, err
}

// IndexEvents indexes the host events after meta/event-index-seq and moves it up to the
// event counter; it returns how many events it indexed. Callers should hold the fill
// lock (fillEventIndex); without it the result is still right, but replicas filling at
// once conflict.
func (s *Store) IndexEvents(ctx context.Context) (int, error) {
	total := 0
	for {
		n, done, err := s.indexOnce(ctx)
		total += n
		if err != nil || done {
			return total, err
		}
	}
}

// indexOnce indexes up to indexBatch events after the index's mark. The mark and the
// events are compared at commit: an event trimmed meanwhile fails the commit, which
// runs again. Only the last batch compares the event counter (no event appended
// since), so a busy store conflicts only there.
func (s *Store) indexOnce(ctx context.Context) (n int, done bool, err error) {
	err = s.Update(ctx, func(tx podmgr.Tx) error {
		x := tx.(*recordTx)
		t := x.t
		n, done = 0, false
		at, err := x.counter(keyIndexSeq)
		if err != nil {
			return err
		}
		b, _, err := t.read(s.key(collMeta, "event-seq"))
		if err != nil {
			return err
		}
		top, _ := strconv.ParseUint(string(b), 10, 64)
		if at >= top {
			done = true
			return nil
		}
		dir := s.dir(collHostSeq)
		var refs []eventRef
		c := t.cursor(dir+seqHex(at+1), prefixEnd(dir))
		for kv, _ := c.next(); kv != nil && len(refs) < indexBatch; kv, _ = c.next() {
			if seq := string(kv.Key[len(dir):]); len(seq) == 16 {
				refs = append(refs, eventRef{seq, string(kv.Value)})
			}
		}
		if c.err != nil {
			return c.err
		}
		upTo := top
		if len(refs) == indexBatch {
			if upTo, err = strconv.ParseUint(refs[len(refs)-1].seq, 16, 64); err != nil {
				return fmt.Errorf("%w: host event %s", podmgr.ErrStoreCorrupt, refs[len(refs)-1].seq)
			}
		} else if _, err := x.counter("event-seq"); err != nil { // compared at commit
			return err
		}
		ra := readAhead{}
		for _, r := range refs {
			ra.keys = append(ra.keys, s.key(collHostEvents, r.mac, r.seq))
		}
		if err := t.prefetch(ra); err != nil {
			return err
		}
		for i, k := range ra.keys {
			v, ok, err := t.get(k)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			pod, at := podmgr.EventPlace(v)
			t.put(s.podEventKey(pod, at, refs[i].seq), []byte(refs[i].mac))
			n++
		}
		t.put(s.key(collMeta, keyIndexSeq), []byte(strconv.FormatUint(upTo, 10)))
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("index host events by pod: %w", err)
	}
	return n, done, err
}
