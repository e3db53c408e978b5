package etcdstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// The pod event index is bbolt's (pkg/podmgr/podevents.go): P host-events-by-pod/POD/
// TIME SEQ -> MAC (TIME: podmgr.EventTimeKey, 16 hex digits, then SEQ's 16), written and
// deleted in the transaction that writes or deletes the host event.
//
// meta/event-index-seq is the event counter the index is complete up to. An append
// moves it with the counter when it was equal to it before, so a replica that does not
// keep the index (an older podboot during a rolling upgrade) leaves a gap behind, and
// reads by pod fall back to the full scan until the gap is filled. The fill (indexEvents
// in podevents_build.go) runs on one replica at Open: it indexes the host events after
// meta/event-index-seq and moves it up to the counter, in transactions that compare the
// events they index, so an event trimmed meanwhile is never indexed.
const (
	collPodEvents = "host-events-by-pod"
	keyIndexSeq   = "event-index-seq"
)

func timeHex(t uint64) string { return fmt.Sprintf("%016x", t) }

func (s *Store) podEventKey(e podmgr.Event) string {
	return s.key(collPodEvents, e.Pod, timeHex(podmgr.EventTimeKey(e.Time))+seqHex(e.Seq))
}

// indexEvent writes host event e's index entry and, when the index was complete before
// e, marks it complete with e. prev is the counter before e.
func (x *recordTx) indexEvent(e podmgr.Event, prev uint64) error {
	s := x.t.s
	if e.Kind == podmgr.KindHost {
		x.t.put(s.podEventKey(e), []byte(e.MAC))
	}
	at, err := x.counter(keyIndexSeq)
	if err != nil || at != prev {
		return err
	}
	x.t.put(s.key(collMeta, keyIndexSeq), []byte(strconv.FormatUint(e.Seq, 10)))
	return nil
}

// unindexEvent deletes the index entry of the stored host event v.
func (x *recordTx) unindexEvent(v []byte) error {
	var e podmgr.Event
	if err := podmgr.DecodeRecord(v, &e); err != nil {
		return fmt.Errorf("host event: %w", err)
	}
	x.t.delGhost(x.t.s.podEventKey(e))
	return nil
}

// counter reads a decimal meta counter (0 when absent), recording it for the commit.
func (x *recordTx) counter(name string) (uint64, error) {
	b, ok, err := x.t.get(x.t.s.key(collMeta, name))
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q", podmgr.ErrStoreCorrupt, name, b)
	}
	return n, nil
}

// podIndexComplete reports whether the index covers every event of the snapshot.
func (x *recordTx) podIndexComplete() (bool, error) {
	s := x.t.s
	resps, err := x.t.readMany([]clientv3.Op{
		clientv3.OpGet(s.key(collMeta, "event-seq"), x.t.readOpts()...),
		clientv3.OpGet(s.key(collMeta, keyIndexSeq), x.t.readOpts()...),
	})
	if err != nil {
		return false, err
	}
	var v [2]string
	for i, r := range resps {
		if kvs := r.GetResponseRange().Kvs; len(kvs) == 1 {
			v[i] = string(kvs[0].Value)
		}
	}
	return v[0] == v[1], nil
}

// eventRef is one index entry: an event's number and its host.
type eventRef struct{ seq, mac string }

// podEvents feeds keep the host events of f.Pod from f.Since with Seq > f.After, in
// sequence order, until full: a range read of the pod's entries from Since, then the
// events themselves in read-only requests of up to prefetchBatch keys.
func (x *recordTx) podEvents(f podmgr.EventFilter, keep func([]byte) error, full func() bool) error {
	s := x.t.s
	dir := s.dir(collPodEvents, f.Pod)
	after := seqHex(f.After)
	var refs []eventRef
	c := x.t.cursor(dir+timeHex(podmgr.EventTimeKey(f.Since)), prefixEnd(dir))
	for kv, _ := c.next(); kv != nil; kv, _ = c.next() {
		k := strings.TrimPrefix(string(kv.Key), dir)
		if len(k) == 32 && k[16:] > after {
			refs = append(refs, eventRef{k[16:], string(kv.Value)})
		}
	}
	if c.err != nil {
		return c.err
	}
	slices.SortFunc(refs, func(a, b eventRef) int { return strings.Compare(a.seq, b.seq) })
	for len(refs) > 0 && !full() {
		n := min(len(refs), prefetchBatch)
		vals, err := x.t.readEvents(refs[:n])
		if err != nil {
			return err
		}
		for _, v := range vals {
			if v != nil && !full() {
				if err := keep(v); err != nil {
					return err
				}
			}
		}
		refs = refs[n:]
	}
	return nil
}

// readEvents reads the host events refs name at the snapshot (nil: not there), in
// read-only requests of up to prefetchBatch keys, without recording them for the
// commit.
func (t *txn) readEvents(refs []eventRef) ([][]byte, error) {
	out := make([][]byte, 0, len(refs))
	for len(refs) > 0 {
		n := min(len(refs), prefetchBatch)
		ops := make([]clientv3.Op, n)
		for i, r := range refs[:n] {
			ops[i] = clientv3.OpGet(t.s.key(collHostEvents, r.mac, r.seq), t.readOpts()...)
		}
		resps, err := t.readMany(ops)
		if err != nil {
			return nil, err
		}
		for _, r := range resps {
			var v []byte
			if kvs := r.GetResponseRange().Kvs; len(kvs) == 1 {
				v = kvs[0].Value
			}
			out = append(out, v)
		}
		refs = refs[n:]
	}
	return out, nil
}
