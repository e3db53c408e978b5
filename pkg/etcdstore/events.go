package etcdstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Events on etcd keep bbolt's rules (pkg/podmgr/boltevents.go): one counter numbers
// audit and host events alike; a host keeps at most PerHost events (an append past it
// drops the host's oldest in the same transaction); the server's retention drops the
// oldest host events beyond Max or older than MaxAge (PruneHostEvents); reads return
// the oldest Limit events after After. The index host-events-by-seq/SEQ -> MAC orders
// all host events for paging and retention.

// SetEventLimits sets the per-host ring size; call it before the store is used.
func (s *Store) SetEventLimits(l podmgr.EventLimits) {
	if l.PerHost > 0 {
		s.perHost.Store(l.PerHost)
	}
}

// AppendEvent takes the next number of the one event counter (both kinds, so events
// stay totally ordered, as in bbolt). The counter is read and written in the txn: two
// replicas appending at once conflict there and one runs again.
func (x *recordTx) AppendEvent(e podmgr.Event) (uint64, error) {
	s := x.t.s
	if !x.t.seqLoaded {
		// The index counter is read with the event counter: one round trip.
		if err := x.t.prefetch(readAhead{keys: []string{s.key(collMeta, "event-seq"), s.key(collMeta, keyIndexSeq)}}); err != nil {
			return 0, err
		}
		b, ok, err := x.t.get(s.key(collMeta, "event-seq"))
		if err != nil {
			return 0, err
		}
		if ok {
			if x.t.seq, err = strconv.ParseUint(string(b), 10, 64); err != nil {
				return 0, fmt.Errorf("%w: event counter %q", podmgr.ErrStoreCorrupt, b)
			}
		}
		x.t.seqLoaded = true
	}
	prev := x.t.seq
	x.t.seq++
	e.Seq = x.t.seq
	x.t.put(s.key(collMeta, "event-seq"), []byte(strconv.FormatUint(e.Seq, 10)))
	if err := x.indexEvent(e, prev); err != nil {
		return 0, err
	}
	if e.Kind != podmgr.KindHost {
		return e.Seq, x.putRecord(s.key(collAudit, seqHex(e.Seq)), e)
	}
	if err := x.putRecord(s.key(collHostEvents, e.MAC, seqHex(e.Seq)), e); err != nil {
		return 0, err
	}
	x.t.put(s.key(collHostSeq, seqHex(e.Seq)), []byte(e.MAC))
	return e.Seq, x.trimHost(e.MAC)
}

// trimHost drops mac's oldest events beyond the ring size. The count is not guarded:
// two replicas appending for one host at once may leave one event too many, which the
// next append drops.
func (x *recordTx) trimHost(mac string) error {
	s := x.t.s
	per := s.perHost.Load()
	if per == 0 {
		return nil
	}
	dir := s.dir(collHostEvents, mac)
	n, err := x.t.count(dir, prefixEnd(dir))
	if err != nil || n <= int64(per) {
		return err
	}
	kvs, err := x.t.oldest(dir, prefixEnd(dir), int(n-int64(per)))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		x.unindexEvent(strings.TrimPrefix(kv.key, dir), kv.val)
		x.t.delGhost(kv.key)
		x.t.delGhost(s.key(collHostSeq, strings.TrimPrefix(kv.key, dir)))
	}
	return nil
}

// Events implements podmgr.ReadTx: the events matching f with Seq > f.After, oldest
// first, at most f.Limit. Reads are paged; they see the snapshot, not the txn's own
// writes.
func (x *recordTx) Events(f podmgr.EventFilter) ([]podmgr.Event, error) {
	if f.After == math.MaxUint64 {
		return nil, nil
	}
	s := x.t.s
	var out []podmgr.Event
	full := func() bool { return f.Limit > 0 && len(out) >= f.Limit }
	keep := func(b []byte) error {
		var e podmgr.Event
		if err := podmgr.DecodeRecord(b, &e); err != nil {
			return err
		}
		if (f.Pod != "" && e.Pod != f.Pod) || (f.MAC != "" && e.MAC != f.MAC) || e.Seq <= f.After || e.Time.Before(f.Since) {
			return nil
		}
		out = append(out, e)
		return nil
	}
	from := seqHex(f.After + 1)
	var err error
	switch {
	case f.Kind == podmgr.KindHost && f.MAC != "":
		dir := s.dir(collHostEvents, f.MAC)
		c := x.t.cursor(dir+from, prefixEnd(dir))
		for kv, e := c.next(); kv != nil && e == nil && err == nil && !full(); kv, e = c.next() {
			err = keep(kv.Value)
		}
		if err == nil {
			err = c.err
		}
	default:
		err = x.mergedEvents(f, from, keep, full)
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// mergedEvents walks audit records and host events together in sequence order.
func (x *recordTx) mergedEvents(f podmgr.EventFilter, from string, keep func([]byte) error, full func() bool) error {
	s := x.t.s
	var audit *cursor
	var ak *mvccpb.KeyValue
	var nextHost func() (string, []byte, error)
	var hseq string
	var hv []byte
	var err error
	if f.Kind != podmgr.KindHost {
		audit = x.t.cursor(s.dir(collAudit)+from, prefixEnd(s.dir(collAudit)))
		ak, _ = audit.next()
	}
	if f.Kind != podmgr.KindAudit {
		if nextHost, err = x.hostEvents(f, from); err != nil {
			return err
		}
		if hseq, hv, err = nextHost(); err != nil {
			return err
		}
	}
	for (ak != nil || hseq != "") && !full() {
		if ak != nil && (hseq == "" || seqOf(ak) < hseq) {
			if err := keep(ak.Value); err != nil {
				return err
			}
			ak, _ = audit.next()
			continue
		}
		if err := keep(hv); err != nil {
			return err
		}
		if hseq, hv, err = nextHost(); err != nil {
			return err
		}
	}
	if audit != nil {
		return audit.err
	}
	return nil
}

// seqOf is the SEQ that ends an event or index key.
func seqOf(kv *mvccpb.KeyValue) string {
	k := string(kv.Key)
	return k[strings.LastIndexByte(k, '/')+1:]
}

// pruneBatch bounds one retention transaction (three deletions per event: the event,
// its seq and pod index entries).
const pruneBatch = 40

// PruneHostEvents enforces the global retention of host events, as the bbolt store
// does: the oldest go until at most l.Max remain and none is older than l.MaxAge. Audit
// records are kept. It works in transactions of at most pruneBatch events and returns
// how many it deleted.
//
// Its cost follows what it deletes, not what is stored: the events are counted once per
// run (etcd counts a range key by key), and each transaction reads on from the last
// event this process pruned (s.pruned) instead of walking again over the ones it
// deleted, which etcd's index keeps until compaction.
func (s *Store) PruneHostEvents(l podmgr.EventLimits, now time.Time) (int, error) {
	over, err := s.hostEventsOver(l)
	if err != nil {
		return 0, fmt.Errorf("prune host events: %w", err)
	}
	total := 0
	for {
		n, err := s.pruneOnce(l, now, over-total)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// hostEventsOver counts the host events beyond l.Max.
func (s *Store) hostEventsOver(l podmgr.EventLimits) (int, error) {
	if l.Max <= 0 {
		return 0, nil
	}
	dir := s.dir(collHostSeq)
	ctx, cancel := context.WithTimeout(s.life, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, dir+seqHex(s.pruned.Load()), clientv3.WithRange(prefixEnd(dir)), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count host events: %w", unavailableErr(err))
	}
	return int(resp.Count) - l.Max, nil
}

// pruneOnce deletes up to pruneBatch of the oldest host events: while over > 0 the
// oldest, then those older than l.MaxAge.
func (s *Store) pruneOnce(l podmgr.EventLimits, now time.Time, over int) (int, error) {
	var deleted int
	var next uint64 // the event after the last one deleted
	err := s.Update(s.life, func(tx podmgr.Tx) error {
		t := tx.(*recordTx).t
		deleted, next = 0, 0
		dir := s.dir(collHostSeq)
		cutoff := now.Add(-l.MaxAge)
		var refs []eventRef
		c := t.cursor(dir+seqHex(s.pruned.Load()), prefixEnd(dir))
		for kv, _ := c.next(); kv != nil && len(refs) < pruneBatch; kv, _ = c.next() {
			refs = append(refs, eventRef{strings.TrimPrefix(string(kv.Key), dir), string(kv.Value)})
		}
		if c.err != nil {
			return c.err
		}
		vals, err := t.readEvents(refs)
		if err != nil {
			return err
		}
		for i, r := range refs {
			if l.Max <= 0 || deleted >= over {
				var e podmgr.Event
				if l.MaxAge <= 0 || (vals[i] != nil && podmgr.DecodeRecord(vals[i], &e) == nil && !e.Time.Before(cutoff)) {
					return nil
				}
			}
			if vals[i] != nil {
				tx.(*recordTx).unindexEvent(r.seq, vals[i])
			}
			t.delGhost(s.key(collHostEvents, r.mac, r.seq))
			t.delGhost(dir + r.seq)
			deleted++
			if n, err := strconv.ParseUint(r.seq, 16, 64); err == nil {
				next = n + 1
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune host events: %w", err)
	}
	if next > s.pruned.Load() {
		s.pruned.Store(next)
	}
	return deleted, nil
}

// cursor pages through [from, end) at the txn's snapshot, without guarding the range
// or merging the txn's own writes (event reads and retention need neither).
type cursor struct {
	t         *txn
	from, end string
	buf       []*mvccpb.KeyValue
	done      bool
	err       error
}

func (t *txn) cursor(from, end string) *cursor { return &cursor{t: t, from: from, end: end} }

// cursorPage is how many keys one cursor request returns.
const cursorPage = 256

func (c *cursor) next() (*mvccpb.KeyValue, error) {
	if len(c.buf) == 0 && !c.done && c.err == nil {
		kvs, next, err := c.t.firstKeys(c.from, c.end, cursorPage)
		if err != nil {
			c.err = err
			return nil, err
		}
		c.buf, c.from, c.done = kvs, next, next == ""
		if len(c.buf) == 0 && !c.done {
			return c.next()
		}
	}
	if len(c.buf) == 0 {
		return nil, c.err
	}
	kv := c.buf[0]
	c.buf = c.buf[1:]
	return kv, nil
}

// read reads one key at the snapshot without recording it for the commit's compares.
func (t *txn) read(key string) ([]byte, bool, error) {
	if w, ok := t.writes[key]; ok {
		return w.val, !w.del, nil
	}
	resp, err := t.fetch(key)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, false, err
	}
	return resp.Kvs[0].Value, true, nil
}

// count is how many record keys [from, end) holds at the snapshot with the txn's own
// writes applied. It does not guard the range.
func (t *txn) count(from, end string) (int64, error) {
	n, ok := t.counted[keyRange{from, end}]
	if !ok {
		resp, err := t.fetch(from, clientv3.WithRange(end), clientv3.WithCountOnly())
		if err != nil {
			return 0, err
		}
		n = resp.Count
	}
	for k, w := range t.writes {
		if k < from || k >= end || isMarker(k) || w.ghost {
			continue
		}
		if w.del {
			n-- // a delete of a key only the txn wrote is a ghost (delGhost)
		} else {
			n++ // counted ranges hold event keys, which are always new
		}
	}
	return n, nil
}

// keyVal is a key and its value.
type keyVal struct {
	key string
	val []byte
}

// oldest returns the first n records of [from, end) with the txn's own writes applied.
func (t *txn) oldest(from, end string, n int) ([]keyVal, error) {
	var own []keyVal
	dels := 0
	for k, w := range t.writes {
		if k >= from && k < end && !isMarker(k) {
			if w.del {
				dels++
			} else {
				own = append(own, keyVal{k, w.val})
			}
		}
	}
	resp, err := t.fetch(from, clientv3.WithRange(end), clientv3.WithLimit(int64(n+dels+1)))
	if err != nil {
		return nil, err
	}
	var kvs []keyVal
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if _, mine := t.writes[k]; mine || isMarker(k) {
			continue // the txn's own value, if any, is in own
		}
		kvs = append(kvs, keyVal{k, kv.Value})
	}
	kvs = append(kvs, own...)
	slices.SortFunc(kvs, func(a, b keyVal) int { return strings.Compare(a.key, b.key) })
	return kvs[:min(n, len(kvs))], nil
}

// delGhost deletes key, which may exist in the store or only among the txn's own
// writes; count keeps both right.
func (t *txn) delGhost(key string) {
	if w, ok := t.writes[key]; ok && !w.del {
		t.setWrite(key, write{del: true, ghost: true})
		return
	}
	t.setWrite(key, write{del: true})
}
