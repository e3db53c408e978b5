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

// eventPlace is what the index keys of an event need: its pod and time.
type eventPlace struct {
	Time time.Time `json:"time"`
	Pod  string    `json:"pod,omitempty"`
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
	var p eventPlace
	if err := decode(v, &p); err != nil {
		return fmt.Errorf("host event %x: %w", seq, err)
	}
	return tx.Bucket(bucketPodEvents).Delete(podEventKey(p.Pod, p.Time, binary.BigEndian.Uint64(seq)))
}

// markPodEventsIndexed records that the index covers every event up to seq.
func markPodEventsIndexed(tx *bolt.Tx, seq uint64) error {
	return tx.Bucket(bucketMeta).Put(keyPodEventsSeq, seqKey(seq))
}

// podEvents feeds keep the host events of f.Pod from f.Since with Seq > f.After, in
// sequence order, until full.
func (t boltTx) podEvents(f EventFilter, keep func([]byte) error, full func() bool) error {
	prefix := podEventPrefix(f.Pod)
	type ref struct{ seq, mac []byte }
	var refs []ref
	c := t.tx.Bucket(bucketPodEvents).Cursor()
	from := binary.BigEndian.AppendUint64(bytes.Clone(prefix), EventTimeKey(f.Since))
	for k, mac := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, mac = c.Next() {
		if seq := k[len(k)-8:]; len(k) == len(prefix)+16 && binary.BigEndian.Uint64(seq) > f.After {
			refs = append(refs, ref{seq, mac})
		}
	}
	slices.SortFunc(refs, func(a, b ref) int { return bytes.Compare(a.seq, b.seq) })
	hb := t.tx.Bucket(bucketHostEvents)
	for _, r := range refs {
		if full() {
			return nil
		}
		if v := hb.Get(hostEventKey(string(r.mac), r.seq)); v != nil {
			if err := keep(v); err != nil {
				return err
			}
		}
	}
	return nil
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
	err = tx.Bucket(bucketHostEvents).ForEach(func(k, v []byte) error {
		var p eventPlace
		if err := decode(v, &p); err != nil {
			return fmt.Errorf("host event %q: %w", k, err)
		}
		i := bytes.IndexByte(k, 0)
		return b.Put(podEventKey(p.Pod, p.Time, binary.BigEndian.Uint64(k[i+1:])), k[:i])
	})
	if err != nil {
		return fmt.Errorf("rebuild pod event index: %w", err)
	}
	return markPodEventsIndexed(tx, seq)
}
