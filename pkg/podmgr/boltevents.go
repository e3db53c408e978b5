package podmgr

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Host events live under mac \x00 seq (one host's events together), with an index
// seq -> mac (every host event in order, for paging and retention) and a count per
// MAC (for the per-host ring). Audit records live under seq alone.

func seqKey(seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return b[:]
}

func hostEventKey(mac string, seq []byte) []byte {
	return append([]byte(mac+"\x00"), seq...)
}

// SetEventLimits sets the per-host ring size; call it before the store is used.
func (s *BoltStore) SetEventLimits(l EventLimits) {
	if l.PerHost > 0 {
		s.perHost = l.PerHost
	}
}

func (t boltTx) AppendEvent(e Event) (uint64, error) {
	ab := t.tx.Bucket(bucketAudit)
	seq, err := ab.NextSequence() // one counter for both kinds keeps events totally ordered
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	if err := markPodEventsIndexed(t.tx, seq); err != nil {
		return 0, err
	}
	if e.Kind != KindHost {
		return seq, put(t.tx, bucketAudit, seqKey(seq), e)
	}
	if err := put(t.tx, bucketHostEvents, hostEventKey(e.MAC, seqKey(seq)), e); err != nil {
		return 0, err
	}
	if err := t.tx.Bucket(bucketHostSeq).Put(seqKey(seq), []byte(e.MAC)); err != nil {
		return 0, err
	}
	if err := indexPodEvent(t.tx, e); err != nil {
		return 0, err
	}
	return seq, t.trimHost(e.MAC)
}

// trimHost counts one more event for mac and, past the ring size, drops its oldest
// events in the same transaction.
func (t boltTx) trimHost(mac string) error {
	cb := t.tx.Bucket(bucketHostCount)
	n := uint64(0)
	if v := cb.Get([]byte(mac)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if t.perHost > 0 && n > t.perHost {
		prefix := []byte(mac + "\x00")
		c := t.tx.Bucket(bucketHostEvents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && n > t.perHost; k, v = c.Seek(prefix) {
			if err := t.tx.Bucket(bucketHostSeq).Delete(k[len(prefix):]); err != nil {
				return err
			}
			if err := unindexPodEvent(t.tx, k[len(prefix):], v); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n--
		}
	}
	return cb.Put([]byte(mac), seqKey(n))
}

// deleteHostEvent removes one host event, its index entries and its count.
func deleteHostEvent(tx *bolt.Tx, mac string, seq []byte) error {
	if v := tx.Bucket(bucketHostEvents).Get(hostEventKey(mac, seq)); v != nil {
		if err := unindexPodEvent(tx, seq, v); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketHostEvents).Delete(hostEventKey(mac, seq)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketHostSeq).Delete(seq); err != nil {
		return err
	}
	cb := tx.Bucket(bucketHostCount)
	v := cb.Get([]byte(mac))
	if len(v) != 8 || binary.BigEndian.Uint64(v) <= 1 {
		return cb.Delete([]byte(mac))
	}
	return cb.Put([]byte(mac), seqKey(binary.BigEndian.Uint64(v)-1))
}

// checkHostEventIndex rebuilds the seq index and the per-host counts when they do not
// cover every host event: a store written before they existed, or written meanwhile by
// an older podboot that did not keep them.
func checkHostEventIndex(tx *bolt.Tx) error {
	if tx.Bucket(bucketHostEvents).Stats().KeyN == tx.Bucket(bucketHostSeq).Stats().KeyN {
		return nil
	}
	for _, b := range [][]byte{bucketHostSeq, bucketHostCount} {
		if err := tx.DeleteBucket(b); err != nil {
			return fmt.Errorf("rebuild host event index: %w", err)
		}
		if _, err := tx.CreateBucket(b); err != nil {
			return fmt.Errorf("rebuild host event index: %w", err)
		}
	}
	return indexHostEvents(tx)
}

// indexHostEvents fills the seq index and the per-host counts from the host events
// (in key order: putSorted).
func indexHostEvents(tx *bolt.Tx) error {
	var seqs, counts []keyValue
	err := tx.Bucket(bucketHostEvents).ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k)-i-1 != 8 {
			return fmt.Errorf("%w: host event key %q", ErrStoreCorrupt, k)
		}
		if n := len(counts); n > 0 && bytes.Equal(counts[n-1].k, k[:i]) {
			counts[n-1].v = seqKey(binary.BigEndian.Uint64(counts[n-1].v) + 1)
		} else {
			counts = append(counts, keyValue{k[:i], seqKey(1)})
		}
		seqs = append(seqs, keyValue{k[i+1:], k[:i]})
		return nil
	})
	if err == nil {
		err = putSorted(tx.Bucket(bucketHostSeq), seqs)
	}
	if err == nil {
		err = putSorted(tx.Bucket(bucketHostCount), counts)
	}
	if err != nil {
		return fmt.Errorf("index host events: %w", err)
	}
	return nil
}

// Events walks the events matching f in sequence order from f.After, and stops after
// f.Limit of them: reads are paged, never the whole history at once.
func (t boltTx) Events(f EventFilter) ([]Event, error) {
	var out []Event
	full := func() bool { return f.Limit > 0 && len(out) >= f.Limit }
	keep := func(b []byte) error {
		var e Event
		if err := decode(b, &e); err != nil {
			return err
		}
		if (f.Pod != "" && e.Pod != f.Pod) || (f.MAC != "" && e.MAC != f.MAC) || e.Time.Before(f.Since) {
			return nil
		}
		out = append(out, e)
		return nil
	}
	from := seqKey(f.After + 1)
	if f.After == ^uint64(0) {
		return nil, nil
	}
	var err error
	if f.Kind == KindHost && f.MAC != "" {
		prefix := []byte(f.MAC + "\x00")
		c := t.tx.Bucket(bucketHostEvents).Cursor()
		for k, v := c.Seek(hostEventKey(f.MAC, from)); k != nil && bytes.HasPrefix(k, prefix) && err == nil && !full(); k, v = c.Next() {
			err = keep(v)
		}
	} else {
		var audit *bolt.Cursor
		var nextHost func() (seq, mac []byte)
		var ak, av, hk, hmac []byte
		if f.Kind != KindHost {
			audit = t.tx.Bucket(bucketAudit).Cursor()
			ak, av = audit.Seek(from)
		}
		if f.Kind != KindAudit {
			nextHost = t.hostRefs(f, from)
			hk, hmac = nextHost()
		}
		for (ak != nil || hk != nil) && err == nil && !full() {
			if ak != nil && (hk == nil || bytes.Compare(ak, hk) < 0) {
				err = keep(av)
				ak, av = audit.Next()
				continue
			}
			if v := t.tx.Bucket(bucketHostEvents).Get(hostEventKey(string(hmac), hk)); v != nil {
				err = keep(v)
			}
			hk, hmac = nextHost()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// pruneBatch bounds one retention transaction, so that pruning a large backlog never
// holds the write lock long.
const pruneBatch = 5000

// PruneHostEvents enforces the global retention of host events: the oldest go until at
// most l.Max remain and none is older than l.MaxAge. Audit records are kept. It works
// in transactions of at most pruneBatch deletions and returns how many it deleted.
func (s *BoltStore) PruneHostEvents(l EventLimits, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.pruneOnce(l, now)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

func (s *BoltStore) pruneOnce(l EventLimits, now time.Time) (int, error) {
	deleted := 0
	err := s.Update(context.Background(), func(t Tx) error {
		tx := t.(boltTx).tx
		idx := tx.Bucket(bucketHostSeq)
		over := idx.Stats().KeyN - l.Max
		cutoff := now.Add(-l.MaxAge)
		c := idx.Cursor()
		for k, mac := c.First(); k != nil && deleted < pruneBatch; k, mac = c.First() {
			if l.Max <= 0 || deleted >= over {
				if l.MaxAge <= 0 {
					return nil
				}
				var e Event
				if v := tx.Bucket(bucketHostEvents).Get(hostEventKey(string(mac), k)); v != nil {
					if err := decode(v, &e); err == nil && !e.Time.Before(cutoff) {
						return nil
					}
				}
			}
			if err := deleteHostEvent(tx, string(bytes.Clone(mac)), bytes.Clone(k)); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune host events: %w", err)
	}
	return deleted, nil
}
