package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/podboot/podboot/pkg/podmgr"
)

// txn is one optimistic serializable transaction. Every read is taken at one snapshot
// revision (fixed by the first read) and remembered with the mod revision it saw; every
// range read is remembered as a guard. Writes are buffered (and seen by the txn's own
// later reads). commit sends one etcd Txn that applies the writes only if no key read
// has changed since the snapshot and no key inside a guarded range was created,
// changed or deleted; otherwise the caller runs fn again on a fresh snapshot.
//
// Deletions leave a trace inside every range that could have seen the key: deleting
// "hosts/aa:…" also puts the marker key "hosts/" (the key's parent), whose new mod
// revision trips the range guard of any concurrent reader. Marker keys end in '/' and
// are skipped by range reads.
type txn struct {
	ctx    context.Context
	s      *Store
	rev    int64            // snapshot revision; 0 until the first read
	reads  map[string]int64 // key -> mod revision seen (0: absent)
	guards map[keyRange]bool
	writes map[string]write
	undo   []undoEntry
	// seq is the event sequence counter as this txn will leave it (seqLoaded: read).
	seq       uint64
	seqLoaded bool
	// onCommit are called with the commit's revision (Tx.OnCommit).
	onCommit []func(rev uint64)

	// fetched and counted hold keys and range counts read ahead (prefetch.go).
	fetched map[string][]byte
	counted map[keyRange]int64
}

type write struct {
	val []byte
	del bool
	// ghost: a delete of a key only this txn had written (events.go's count).
	ghost bool
}

type keyRange struct{ from, end string }

type undoEntry struct {
	key  string
	prev write
	had  bool
}

// savepoint is where rollback returns the txn's writes to (Batch drops one caller's
// writes this way).
type savepoint struct {
	undo      int
	seq       uint64
	seqLoaded bool
	onCommit  int
}

func newTxn(ctx context.Context, s *Store) *txn {
	return &txn{ctx: ctx, s: s, reads: map[string]int64{}, guards: map[keyRange]bool{}, writes: map[string]write{}}
}

func (t *txn) savepoint() savepoint {
	return savepoint{len(t.undo), t.seq, t.seqLoaded, len(t.onCommit)}
}

func (t *txn) rollback(sp savepoint) {
	for i := len(t.undo) - 1; i >= sp.undo; i-- {
		u := t.undo[i]
		if u.had {
			t.writes[u.key] = u.prev
		} else {
			delete(t.writes, u.key)
		}
	}
	t.undo = t.undo[:sp.undo]
	t.seq, t.seqLoaded = sp.seq, sp.seqLoaded
	t.onCommit = t.onCommit[:sp.onCommit]
}

func (t *txn) setWrite(key string, w write) {
	prev, had := t.writes[key]
	t.undo = append(t.undo, undoEntry{key, prev, had})
	t.writes[key] = w
}

func (t *txn) put(key string, val []byte) { t.setWrite(key, write{val: val}) }

// del deletes key and, when marker is not empty, puts the marker (the parent of key that
// range readers guard).
func (t *txn) del(key, marker string) {
	t.setWrite(key, write{del: true})
	if marker != "" {
		t.setWrite(marker, write{val: nil})
	}
}

// readOpts pins a read to the snapshot once there is one. Reads are linearizable (no
// WithSerializable): a follower first catches up, so a revision the cluster has is never
// "in the future" (what makes concurrency.NewSTM fail with several endpoints).
func (t *txn) readOpts(opts ...clientv3.OpOption) []clientv3.OpOption {
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	return opts
}

func (t *txn) fetch(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.RequestTimeout)
	defer cancel()
	resp, err := t.s.cli.Get(ctx, key, t.readOpts(opts...)...)
	if err != nil {
		return nil, t.wrap(fmt.Sprintf("etcd read %s", strings.TrimPrefix(key, t.s.prefix)), err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// get reads one key: the txn's own write if it has one, else the snapshot.
func (t *txn) get(key string) ([]byte, bool, error) {
	if w, ok := t.writes[key]; ok {
		return w.val, !w.del, nil
	}
	if v, ok := t.fetched[key]; ok {
		return v, t.reads[key] != 0, nil
	}
	resp, err := t.fetch(key)
	if err != nil {
		return nil, false, err
	}
	var modRev int64
	var val []byte
	if len(resp.Kvs) == 1 {
		modRev, val = resp.Kvs[0].ModRevision, resp.Kvs[0].Value
	}
	if _, seen := t.reads[key]; !seen {
		t.reads[key] = modRev
	}
	return val, len(resp.Kvs) == 1, nil
}

// scanPage is how many keys one range request returns (about 0.7 MiB of hosts) when
// the server has no RangeStream (stream.go).
const scanPage = 5000

// scan calls fn for every record key in [from, end) in key order, merged with the txn's
// own writes, and guards the range.
func (t *txn) scan(from, end string, fn func(key string, val []byte) error) error {
	t.guards[keyRange{from, end}] = true
	var own []string
	for k := range t.writes {
		if k >= from && k < end && !isMarker(k) {
			own = append(own, k)
		}
	}
	slices.Sort(own)
	emitOwnUpTo := func(limit string, inclusive bool) error {
		for len(own) > 0 && (own[0] < limit || (inclusive && own[0] == limit)) {
			k := own[0]
			own = own[1:]
			if w := t.writes[k]; !w.del {
				if err := fn(k, w.val); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := t.eachChunk(from, end, func(kvs []*mvccpb.KeyValue) error {
		for _, kv := range kvs {
			k := string(kv.Key)
			if err := emitOwnUpTo(k, true); err != nil {
				return err
			}
			if _, mine := t.writes[k]; mine {
				continue
			}
			if err := fn(k, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return emitOwnUpTo(end, false)
}

func isMarker(key string) bool { return strings.HasSuffix(key, "/") }

// prefixEnd is the end of the range of keys that start with p.
func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// ErrTooLarge says a transaction exceeds what one etcd request may carry. It is
// podmgr.ErrInvalid (the API's 400): the caller can make the change in smaller parts.
var ErrTooLarge = fmt.Errorf("%w: change too large for one etcd transaction", podmgr.ErrInvalid)

// compares are the conditions of the commit: every key read still at the revision it
// had, nothing in a guarded range newer than the snapshot. When there are more than one
// request allows, the reads of absent keys of one collection merge into one range
// compare over their span (a concurrent write between them then costs a retry).
func (t *txn) compares() []clientv3.Cmp {
	var cmps []clientv3.Cmp
	absent := map[string][]string{} // collection -> absent keys read
	for k, rev := range t.reads {
		if rev == 0 {
			absent[t.s.collection(k)] = append(absent[t.s.collection(k)], k)
			continue
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	for g := range t.guards {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(g.from), "<", t.rev+1).WithRange(g.end))
	}
	n := len(cmps)
	for _, keys := range absent {
		n += len(keys)
	}
	for _, keys := range absent {
		if n <= t.s.cfg.MaxTxnOps || len(keys) == 1 {
			for _, k := range keys {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", 0))
			}
			continue
		}
		slices.Sort(keys)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(keys[0]), "<", t.rev+1).WithRange(keys[len(keys)-1]+"\x00"))
		n -= len(keys) - 1
	}
	return cmps
}

func (t *txn) ops() ([]clientv3.Op, int) {
	ops := make([]clientv3.Op, 0, len(t.writes))
	size := 0
	for k, w := range t.writes {
		size += len(k) + len(w.val) + 16
		if w.del {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(w.val)))
		}
	}
	return ops, size
}

// fits reports whether the commit fits in one etcd request, and if not why.
func (t *txn) fits() error {
	cmps := t.compares()
	ops, size := t.ops()
	for _, c := range cmps {
		size += 2*len(c.KeyBytes()) + 16 // key and range end
	}
	switch {
	case len(ops) > t.s.cfg.MaxTxnOps:
		return fmt.Errorf("%w: %d writes, etcd takes at most %d per transaction (the server's --max-txn-ops): make the change in smaller parts", ErrTooLarge, len(ops), t.s.cfg.MaxTxnOps)
	case len(cmps) > t.s.cfg.MaxTxnOps:
		return fmt.Errorf("%w: %d keys to check, etcd takes at most %d compares per transaction (the server's --max-txn-ops): make the change in smaller parts", ErrTooLarge, len(cmps), t.s.cfg.MaxTxnOps)
	case size > t.s.cfg.MaxRequestBytes:
		return fmt.Errorf("%w: about %d bytes, etcd takes at most %d per request (the server's --max-request-bytes): make the change in smaller parts", ErrTooLarge, size, t.s.cfg.MaxRequestBytes)
	}
	return nil
}

// commit applies the writes if nothing read has changed. ok is false on a conflict (run
// fn again); an error means the outcome is unknown or the txn is too large.
func (t *txn) commit() (ok bool, err error) {
	if len(t.writes) == 0 {
		t.committed(t.rev)
		return true, nil
	}
	if err := t.fits(); err != nil {
		return false, err
	}
	ops, _ := t.ops()
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(t.ctx), t.s.cfg.RequestTimeout)
	defer cancel()
	resp, err := t.s.cli.Txn(ctx).If(t.compares()...).Then(ops...).Commit()
	if err != nil {
		return false, t.wrap(fmt.Sprintf("etcd commit of %d writes", len(ops)), err)
	}
	if resp.Succeeded {
		t.committed(resp.Header.Revision)
	}
	return resp.Succeeded, nil
}

func (t *txn) committed(rev int64) {
	for _, fn := range t.onCommit {
		fn(uint64(rev))
	}
}

// wrap names what failed and marks the errors that mean etcd cannot serve now (no
// member reachable, no leader, overloaded, our request timeout) as
// podmgr.ErrStoreUnavailable. The caller's own cancellation is not one of them.
func (t *txn) wrap(what string, err error) error {
	if t.ctx.Err() == nil && unavailable(err) {
		return fmt.Errorf("%s: %w (%w)", what, podmgr.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// retryable reports whether fn failed only because its snapshot went away.
func retryable(err error) bool { return errors.Is(err, rpctypes.ErrCompacted) }
