package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Range reads that cost what they return. etcd answers a ranged Get, even one with a
// limit, only after it has counted every key of the range at the revision (the
// response's Count): a load that pages through a million hosts 5,000 at a time visits
// every key a hundred times, and the retention's "oldest 256 events" visits every event
// (and every deleted one, until compaction). etcd 3.7's RangeStream sends a range in
// chunks without counting: read through, a scan costs its size once; cancelled once
// enough has arrived, a first-keys read costs about twice what it returns. A server
// older than 3.7 answers Unimplemented: the store then falls back to paged Gets for
// good (streamSupport).

// streamSupport remembers that the cluster has no RangeStream.
type streamSupport struct{ missing atomic.Bool }

// errStop ends a stream early from its chunk function.
var errStop = errors.New("stop")

// streamRange calls fn with the chunks of the record keys in [from, end) at the
// snapshot, in key order, until fn returns errStop or another error. ok is false when
// the server has no RangeStream (nothing was read). Each chunk must arrive within the
// request timeout; fn's own time does not count.
func (t *txn) streamRange(from, end string, fn func([]*mvccpb.KeyValue) error) (ok bool, err error) {
	if t.s.streams.missing.Load() {
		return false, nil
	}
	if t.rev == 0 {
		// Fix the snapshot first: a stream's revision comes only with its last chunk.
		if _, err := t.fetch(from, clientv3.WithCountOnly()); err != nil {
			return true, err
		}
	}
	ctx, cancel := context.WithCancel(t.ctx)
	idle := time.AfterFunc(t.s.cfg.RequestTimeout, cancel)
	defer idle.Stop()
	defer cancel()
	ch, err := t.s.cli.GetStream(ctx, from, clientv3.WithRange(end), clientv3.WithRev(t.rev))
	if err != nil {
		return t.streamFailed(err, idle)
	}
	defer func() {
		idle.Stop()
		cancel()
		for range ch { // the client's receiver ends once the stream is cancelled
		}
	}()
	first := true
	for r := range ch {
		if err := r.Err(); err != nil {
			if first {
				return t.streamFailed(err, idle)
			}
			return true, t.streamErr(err, idle)
		}
		first = false
		idle.Stop()
		var kvs []*mvccpb.KeyValue
		for _, kv := range r.Kvs {
			if !isMarker(string(kv.Key)) {
				kvs = append(kvs, kv)
			}
		}
		if err := fn(kvs); err != nil {
			if errors.Is(err, errStop) {
				return true, nil
			}
			return true, err
		}
		idle.Reset(t.s.cfg.RequestTimeout)
	}
	return true, nil
}

// streamFailed handles an error before the first chunk: Unimplemented means the
// server predates RangeStream.
func (t *txn) streamFailed(err error, idle *time.Timer) (bool, error) {
	var ee rpctypes.EtcdError
	if status.Code(err) == codes.Unimplemented || (errors.As(err, &ee) && ee.Code() == codes.Unimplemented) {
		t.s.streams.missing.Store(true)
		t.s.cfg.Log.Info("etcd has no RangeStream (before 3.7): range reads are paged Gets, which cost the whole range each")
		return false, nil
	}
	return true, t.streamErr(err, idle)
}

// streamErr names a failed stream; one cut by the idle timer is a timeout.
func (t *txn) streamErr(err error, idle *time.Timer) error {
	if t.ctx.Err() == nil && !idle.Stop() {
		err = fmt.Errorf("%w (no chunk for %s)", context.DeadlineExceeded, t.s.cfg.RequestTimeout)
	}
	return t.wrap("etcd range stream", err)
}

// firstKeys returns the first n record keys of [from, end) at the snapshot, and the
// key to go on from ("" when the range is done).
func (t *txn) firstKeys(from, end string, n int) ([]*mvccpb.KeyValue, string, error) {
	var kvs []*mvccpb.KeyValue
	ok, err := t.streamRange(from, end, func(chunk []*mvccpb.KeyValue) error {
		kvs = append(kvs, chunk...)
		if len(kvs) > n {
			return errStop
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, "", err
	case ok && len(kvs) > n:
		return kvs[:n], string(kvs[n-1].Key) + "\x00", nil
	case ok:
		return kvs, "", nil
	}
	resp, err := t.fetch(from, clientv3.WithRange(end), clientv3.WithLimit(int64(n)))
	if err != nil {
		return nil, "", err
	}
	next := ""
	if resp.More && len(resp.Kvs) > 0 {
		next = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	kvs = resp.Kvs[:0:0]
	for _, kv := range resp.Kvs {
		if !isMarker(string(kv.Key)) {
			kvs = append(kvs, kv)
		}
	}
	return kvs, next, nil
}

// eachChunk calls fn with the record keys of [from, end) at the snapshot, chunk by
// chunk: one stream, or without RangeStream pages of scanPage keys with the next page
// requested while fn handles the current one.
func (t *txn) eachChunk(from, end string, fn func([]*mvccpb.KeyValue) error) error {
	if ok, err := t.streamRange(from, end, fn); ok || err != nil {
		return err
	}
	resp, err := t.fetch(from, clientv3.WithRange(end), clientv3.WithLimit(scanPage))
	for {
		if err != nil {
			return err
		}
		var pending chan page
		if resp.More && len(resp.Kvs) > 0 {
			pending = make(chan page, 1)
			next := string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
			go func() {
				r, err := t.fetch(next, clientv3.WithRange(end), clientv3.WithLimit(scanPage))
				pending <- page{r, err}
			}()
		}
		kvs := resp.Kvs[:0:0]
		for _, kv := range resp.Kvs {
			if !isMarker(string(kv.Key)) {
				kvs = append(kvs, kv)
			}
		}
		if err := fn(kvs); err != nil {
			return err
		}
		if pending == nil {
			return nil
		}
		p := <-pending
		resp, err = p.resp, p.err
	}
}

// page is one range response of a paged scan.
type page struct {
	resp *clientv3.GetResponse
	err  error
}
