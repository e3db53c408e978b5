package podmgr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The pod event index answers "this pod's host events since T" (pod status, the web
// pod page) without reading other pods' events: pod \x00 time seq -> MAC, one entry per
// host event, written and deleted in the transaction that writes or deletes the event.
// Time comes before seq because Since cannot be answered from seq order: an event's
// time is taken before its commit (concurrent writers, replicas' clocks), and with the
// default 30-day retention a pod's events of one day are a small part of its entries.
// A read seeks to the pod's entries from Since, sorts the few it finds by seq and reads
// those events; the filter is applied to each event as on the full scan.
//
// meta/host-events-by-pod-seq is the event counter the index is complete up to. Every
// append keeps it equal to the counter; a store whose counter differs (written before
// the index existed, or since by an older podboot) or whose index and host events
// differ in number gets the index rebuilt on open.

var keyPodEventsSeq = []byte("host-events-by-pod-seq")

// EventTimeKey orders event times in index keys: Unix nanoseconds with the sign bit
// flipped so that earlier times sort first. Times outside what int64 nanoseconds hold
// (before 1678, after 2262, the zero time) are clamped, which keeps the order: a reader
// checks each event's own time.
func EventTimeKey(t time.Time) uint64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxUint64
	}
	return uint64(t.UnixNano()) ^ 1<<63
}

func podEventPrefix(pod string) []byte { return append([]byte(pod), 0) }

func podEventKey(pod string, t time.Time, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(podEventPrefix(pod), EventTimeKey(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

// indexPodEvent adds host event e to the pod index.
func indexPodEvent(tx *bolt.Tx, e Event) error {
	return tx.Bucket(bucketPodEvents).Put(podEventKey(e.Pod, e.Time, e.Seq), []byte(e.MAC))
}

// unindexPodEvent removes the index entry of the stored host event v (seq: its number).
func unindexPodEvent(tx *bolt.Tx, seq []byte, v []byte) error {
	p := placeOf(v)
	return tx.Bucket(bucketPodEvents).Delete(podEventKey(p.Pod, p.Time, binary.BigEndian.Uint64(seq)))
}

// markPodEventsIndexed records that the index covers every event up to seq.
func markPodEventsIndexed(tx *bolt.Tx, seq uint64) error {
	return tx.Bucket(bucketMeta).Put(keyPodEventsSeq, seqKey(seq))
}

// SeqWalkMax is how few events after a read's After make a read by pod walk the
// sequence rather than the pod index: a follower's poll (events --follow --pod) reads
// the few new events, not the pod's whole index.
const SeqWalkMax = 1024

// hostRefs walks the host events f may match in sequence order from from, yielding
// each one's seq and MAC (nil after the last): through the pod index for one pod's
// events, else through the seq index.
func (t boltTx) hostRefs(f EventFilter, from []byte) func() (seq, mac []byte) {
	if top := t.tx.Bucket(bucketAudit).Sequence(); f.Pod != "" && f.MAC == "" && top > f.After && top-f.After > SeqWalkMax {
		refs := t.podRefs(f)
		return func() ([]byte, []byte) {
			if len(refs) == 0 {
				return nil, nil
			}
			r := refs[0]
			refs = refs[1:]
			return r.seq, r.mac
		}
	}
	c := t.tx.Bucket(bucketHostSeq).Cursor()
	k, v := c.Seek(from)
	return func() ([]byte, []byte) {
		seq, mac := k, v
		if k != nil {
			k, v = c.Next()
		}
		return seq, mac
	}
}

// eventRef is one index entry: an event's seq and its host's MAC.
type eventRef struct{ seq, mac []byte }

// podRefs returns the index entries of f.Pod's host events from f.Since with Seq >
// f.After, in sequence order: a seek to the pod's entries from Since, and a sort of
// those.
func (t boltTx) podRefs(f EventFilter) []eventRef {
	prefix := podEventPrefix(f.Pod)
	var refs []eventRef
	c := t.tx.Bucket(bucketPodEvents).Cursor()
	from := binary.BigEndian.AppendUint64(bytes.Clone(prefix), EventTimeKey(f.Since))
	for k, mac := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, mac = c.Next() {
		if seq := k[len(k)-8:]; len(k) == len(prefix)+16 && binary.BigEndian.Uint64(seq) > f.After {
			refs = append(refs, eventRef{seq, mac})
		}
	}
	slices.SortFunc(refs, func(a, b eventRef) int { return bytes.Compare(a.seq, b.seq) })
	return refs
}

// checkPodEventIndex rebuilds the pod index unless it covers exactly the host events.
func checkPodEventIndex(tx *bolt.Tx) error {
	seq := tx.Bucket(bucketAudit).Sequence()
	v := tx.Bucket(bucketMeta).Get(keyPodEventsSeq)
	if len(v) == 8 && binary.BigEndian.Uint64(v) == seq &&
		tx.Bucket(bucketPodEvents).Stats().KeyN == tx.Bucket(bucketHostEvents).Stats().KeyN {
		return nil
	}
	if err := tx.DeleteBucket(bucketPodEvents); err != nil {
		return fmt.Errorf("rebuild pod event index: %w", err)
	}
	b, err := tx.CreateBucket(bucketPodEvents)
	if err != nil {
		return fmt.Errorf("rebuild pod event index: %w", err)
	}
	var entries []keyValue
	err = tx.Bucket(bucketHostEvents).ForEach(func(k, v []byte) error {
		p := placeOf(v)
		i := bytes.IndexByte(k, 0)
		entries = append(entries, keyValue{podEventKey(p.Pod, p.Time, binary.BigEndian.Uint64(k[i+1:])), k[:i]})
		return nil
	})
	if err == nil {
		err = putSorted(b, entries)
	}
	if err != nil {
		return fmt.Errorf("rebuild pod event index: %w", err)
	}
	return markPodEventsIndexed(tx, seq)
}

type keyValue struct{ k, v []byte }

// putSorted fills the empty bucket b in key order: bbolt splits nodes only at commit, so
// keys put out of order into one transaction each shift the node's others (200,000 took
// minutes), and in order they append (a fraction of a second).
func putSorted(b *bolt.Bucket, entries []keyValue) error {
	slices.SortFunc(entries, func(a, b keyValue) int { return bytes.Compare(a.k, b.k) })
	b.FillPercent = 1
	for _, e := range entries {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
