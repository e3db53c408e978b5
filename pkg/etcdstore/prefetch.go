package etcdstore

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// prefetchBatch is how many reads one read-ahead request carries (a txn's ops limit).
const prefetchBatch = 100

// readAhead is what a transaction is about to read: keys, and ranges to count.
type readAhead struct {
	keys   []string
	counts []keyRange
}

// prefetch reads at the snapshot, in requests of up to prefetchBatch reads (one
// read-only etcd Txn each), what would otherwise cost a round trip each; get and count
// then answer from it. Keys read this way are compared at commit as any other read.
func (t *txn) prefetch(ra readAhead) error {
	var ops []clientv3.Op
	var keys []string
	var counts []keyRange
	for _, k := range ra.keys {
		_, read := t.reads[k]
		_, own := t.writes[k]
		if !read && !own {
			ops = append(ops, clientv3.OpGet(k, t.readOpts()...))
			keys = append(keys, k)
		}
	}
	for _, r := range ra.counts {
		if _, done := t.counted[r]; !done {
			ops = append(ops, clientv3.OpGet(r.from, t.readOpts(clientv3.WithRange(r.end), clientv3.WithCountOnly())...))
			counts = append(counts, r)
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), prefetchBatch)
		resps, err := t.readMany(ops[:n])
		if err != nil {
			return err
		}
		for _, r := range resps {
			rr := r.GetResponseRange()
			if len(keys) > 0 {
				var modRev int64
				var val []byte
				if len(rr.Kvs) == 1 {
					modRev, val = rr.Kvs[0].ModRevision, rr.Kvs[0].Value
				}
				t.reads[keys[0]], t.fetched[keys[0]] = modRev, val
				keys = keys[1:]
				continue
			}
			t.counted[counts[0]] = rr.Count
			counts = counts[1:]
		}
		ops = ops[n:]
	}
	return nil
}

// readMany sends reads as one read-only etcd Txn; the first fixes the snapshot.
func (t *txn) readMany(ops []clientv3.Op) ([]*etcdserverpb.ResponseOp, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.RequestTimeout)
	defer cancel()
	resp, err := t.s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, t.wrap(fmt.Sprintf("etcd read of %d keys", len(ops)), err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	if t.fetched == nil {
		t.fetched, t.counted = map[string][]byte{}, map[keyRange]int64{}
	}
	return resp.Responses, nil
}

// PrefetchHosts implements podmgr.HostPrefetcher: an import part reads its hosts, their
// reservations, pods, profiles and event counts and the event counter in one request
// instead of three round trips per host and more.
func (x *recordTx) PrefetchHosts(hs []podmgr.Host) error {
	s := x.t.s
	ra := readAhead{keys: []string{s.key(collMeta, "event-seq")}}
	seen := map[string]bool{}
	for _, h := range hs {
		for _, k := range []string{s.key(collPods, h.Pod), s.key(collProfiles, h.Profile)} {
			if !seen[k] && !isMarker(k) {
				seen[k] = true
				ra.keys = append(ra.keys, k)
			}
		}
		ra.keys = append(ra.keys, s.key(collHosts, h.MAC))
		if h.ProvisioningIP != "" {
			ra.keys = append(ra.keys, s.key(collReservations, h.Pod, h.ProvisioningIP))
		}
		if s.perHost.Load() > 0 {
			dir := s.dir(collHostEvents, h.MAC)
			ra.counts = append(ra.counts, keyRange{dir, prefixEnd(dir)})
		}
	}
	return x.t.prefetch(ra)
}

var _ podmgr.HostPrefetcher = (*recordTx)(nil)
