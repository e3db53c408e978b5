package etcdstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
// reads by pod fall back to the full scan until the gap is filled. The fill
// (podevents_build.go) runs on one replica when a check at Open or every 10 s finds a
// gap: it indexes the host events after meta/event-index-seq and moves it up to the
// counter, in transactions that compare the events they index, so an event trimmed
// meanwhile is never indexed.
const (
	collPodEvents = "host-events-by-pod"
	keyIndexSeq   = "event-index-seq"
)

func timeHex(t uint64) string { return fmt.Sprintf("%016x", t) }

// podEventKey is the index key of the event of pod at time at, number seq (16 hex
// digits).
func (s *Store) podEventKey(pod string, at time.Time, seq string) string {
	return s.key(collPodEvents, pod, timeHex(podmgr.EventTimeKey(at))+seq)
}

// indexEvent writes host event e's index entry and, when the index was complete before
// e, marks it complete with e. prev is the counter before e.
func (x *recordTx) indexEvent(e podmgr.Event, prev uint64) error {
	s := x.t.s
	if e.Kind == podmgr.KindHost {
		x.t.put(s.podEventKey(e.Pod, e.Time, seqHex(e.Seq)), []byte(e.MAC))
	}
	at, err := x.counter(keyIndexSeq)
	if err != nil || at != prev {
		return err
	}
	x.t.put(s.key(collMeta, keyIndexSeq), []byte(strconv.FormatUint(e.Seq, 10)))
	return nil
}

// unindexEvent deletes the index entry of the stored host event v, number seq.
func (x *recordTx) unindexEvent(seq string, v []byte) {
	pod, at := podmgr.EventPlace(v)
	x.t.delGhost(x.t.s.podEventKey(pod, at, seq))
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

// podIndexComplete reports whether the index covers every event of the snapshot, and
// the event counter.
func (x *recordTx) podIndexComplete() (top uint64, complete bool, err error) {
	s := x.t.s
	resps, err := x.t.readMany([]clientv3.Op{
		clientv3.OpGet(s.key(collMeta, "event-seq"), x.t.readOpts()...),
		clientv3.OpGet(s.key(collMeta, keyIndexSeq), x.t.readOpts()...),
	})
	if err != nil {
		return 0, false, err
	}
	var v [2]string
	for i, r := range resps {
		if kvs := r.GetResponseRange().Kvs; len(kvs) == 1 {
			v[i] = string(kvs[0].Value)
		}
	}
	top, _ = strconv.ParseUint(v[0], 10, 64)
	return top, v[0] == v[1], nil
}

// eventRef is one index entry: an event's number and its host.
type eventRef struct{ seq, mac string }

// hostEvents walks the host events f may match in sequence order from from, yielding
// each one's SEQ and stored value ("" after the last): through the pod index for one
// pod's events when the index is complete and more than podmgr.SeqWalkMax events
// follow f.After, else through the seq index. Events are read prefetchBatch a request.
func (x *recordTx) hostEvents(f podmgr.EventFilter, from string) (func() (string, []byte, error), error) {
	if f.Pod != "" && f.MAC == "" {
		top, complete, err := x.podIndexComplete()
		if err != nil {
			return nil, err
		}
		if complete && top > f.After && top-f.After > podmgr.SeqWalkMax {
			refs, err := x.podRefs(f)
			if err != nil {
				return nil, err
			}
			return x.readRefs(refs), nil
		}
	}
	s := x.t.s
	c := x.t.cursor(s.dir(collHostSeq)+from, prefixEnd(s.dir(collHostSeq)))
	var page func() (string, []byte, error)
	return func() (string, []byte, error) {
		for {
			if page != nil {
				if seq, v, err := page(); seq != "" || err != nil {
					return seq, v, err
				}
			}
			var refs []eventRef
			for kv, _ := c.next(); kv != nil; kv, _ = c.next() {
				if refs = append(refs, eventRef{seqOf(kv), string(kv.Value)}); len(refs) == prefetchBatch {
					break
				}
			}
			if len(refs) == 0 {
				return "", nil, c.err
			}
			page = x.readRefs(refs)
		}
	}, nil
}

// podRefs returns the index entries of f.Pod's host events from f.Since with Seq >
// f.After, in sequence order: a range read of the pod's entries from Since, sorted.
func (x *recordTx) podRefs(f podmgr.EventFilter) ([]eventRef, error) {
	dir := x.t.s.dir(collPodEvents, f.Pod)
	after := seqHex(f.After)
	var refs []eventRef
	c := x.t.cursor(dir+timeHex(podmgr.EventTimeKey(f.Since)), prefixEnd(dir))
	for kv, _ := c.next(); kv != nil; kv, _ = c.next() {
		k := strings.TrimPrefix(string(kv.Key), dir)
		if len(k) == 32 && k[16:] > after {
			refs = append(refs, eventRef{k[16:], string(kv.Value)})
		}
	}
	slices.SortFunc(refs, func(a, b eventRef) int { return strings.Compare(a.seq, b.seq) })
	return refs, c.err
}

// readRefs yields the events refs name, read prefetchBatch at a time.
func (x *recordTx) readRefs(refs []eventRef) func() (string, []byte, error) {
	var vals [][]byte
	return func() (string, []byte, error) {
		for len(refs) > 0 {
			if len(vals) == 0 {
				var err error
				if vals, err = x.t.readEvents(refs[:min(len(refs), prefetchBatch)]); err != nil {
					return "", nil, err
				}
			}
			r, v := refs[0], vals[0]
			refs, vals = refs[1:], vals[1:]
			if v != nil {
				return r.seq, v, nil
			}
		}
		return "", nil, nil
	}
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
