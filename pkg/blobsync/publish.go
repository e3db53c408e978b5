package blobsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/artifact"
)

// publish is artifact.Hooks.Publish: the record goes into the catalog pending, peers
// copy the blobs, and once enough replicas hold them it turns ready. On timeout the
// pending record is deleted again and the error wraps artifact.ErrNotReplicated.
func (r *Replicator) publish(ctx context.Context, a artifact.Artifact) (artifact.Artifact, error) {
	rec := record{Artifact: a, State: statePending, Origin: r.cfg.ID}
	need, known, err := r.required(ctx)
	if err != nil {
		return artifact.Artifact{}, err
	}
	if live, ok := r.live(ctx); ok && len(live) < need {
		return artifact.Artifact{}, fmt.Errorf("%w: %s needs copies on %d replicas and %d are live (%s; known replicas: %s): "+
			"the image was not added; start the replicas that are down, or lower artifacts.minCopies, and push again",
			artifact.ErrNotReplicated, a.Ref(), need, len(live), list(live), list(known))
	}
	rev, existing, err := r.createPending(ctx, rec)
	if err != nil {
		return artifact.Artifact{}, err
	}
	if existing != nil {
		got, err := r.alreadyThere(a, *existing)
		if err == nil {
			for _, d := range existing.digests() {
				if err := r.putHolder(ctx, d); err != nil {
					r.log.Warn("record this replica as holder", "digest", d, "err", err)
				}
			}
		}
		return got, err
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.CopyTimeout)
	defer cancel()
	holding, err := r.waitCopies(wctx, rec, need)
	if err != nil {
		r.withdraw(rec, rev)
		return artifact.Artifact{}, r.shortOfCopies(ctx, rec, need, known, err)
	}
	rec.State = stateReady
	if err := r.markReady(ctx, rec, rev); err != nil {
		r.withdraw(rec, rev)
		return artifact.Artifact{}, err
	}
	r.log.Info("artifact published", "ref", a.Ref(), "sha256", a.Digest, "copies", len(holding), "holding", list(holding))
	return a, nil
}

// shortOfCopies is the error of a push whose copies did not arrive in time: who holds
// it (counted again, the wait's context is over), who is known, and what to do.
func (r *Replicator) shortOfCopies(ctx context.Context, rec record, need int, known []string, err error) error {
	why := ""
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		why = ": " + err.Error()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	holding, herr := r.holding(fctx, rec)
	if herr != nil {
		why += "; count copies: " + herr.Error()
	}
	return fmt.Errorf("%w: %s is on %d of the %d replicas required within %s (holding: %s; known replicas: %s): "+
		"the image was not added; start the replicas that are down, or lower artifacts.minCopies, and push again%s",
		artifact.ErrNotReplicated, rec.Ref(), len(holding), need, r.cfg.CopyTimeout, list(holding), list(known), why)
}

// live is the membership's list of live replicas; ok is false when it is unknown.
func (r *Replicator) live(ctx context.Context) (names []string, ok bool) {
	if r.cfg.Live == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	names, err := r.cfg.Live(ctx)
	if err != nil {
		r.log.Warn("read live replicas", "err", err)
		return nil, false
	}
	return names, true
}

// createPending creates the pending record with this replica as holder, unless the
// version exists: then existing is the catalog's record.
func (r *Replicator) createPending(ctx context.Context, rec record) (rev int64, existing *record, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	key := r.k.record(rec.Ref())
	ops := []clientv3.Op{clientv3.OpPut(key, encode(rec))}
	for _, d := range rec.digests() {
		ops = append(ops, clientv3.OpPut(r.k.holder(d, r.cfg.ID), ""))
	}
	resp, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(ops...).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, nil, fmt.Errorf("publish %s to the artifact catalog: %w", rec.Ref(), err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil, nil
	}
	old, err := decodeRecord(resp.Responses[0].GetResponseRange().Kvs[0].Value)
	if err != nil {
		return 0, nil, err
	}
	return 0, &old, nil
}

// alreadyThere answers an ingest of a version the catalog has: the same content ready
// is a no-op, anything else a conflict.
func (r *Replicator) alreadyThere(a artifact.Artifact, old record) (artifact.Artifact, error) {
	switch {
	case old.Digest != a.Digest:
		return artifact.Artifact{}, fmt.Errorf("%w: %s already exists with digest %s (published through replica %s): versions are immutable, add a new version",
			artifact.ErrConflict, a.Ref(), old.Digest, old.Origin)
	case old.State != stateReady:
		return artifact.Artifact{}, fmt.Errorf("%w: %s is being published through replica %s right now: retry when it is done", artifact.ErrConflict, a.Ref(), old.Origin)
	}
	return old.Artifact, nil
}

// required is how many replicas must hold a new blob: MinCopies, capped at the number
// of replicas the catalog knows (a deployment of one replica needs one copy).
func (r *Replicator) required(ctx context.Context) (need int, known []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.k.peers(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, nil, fmt.Errorf("count replicas: %w", err)
	}
	for _, kv := range resp.Kvs {
		known = append(known, strings.TrimPrefix(string(kv.Key), r.k.peers()))
	}
	return min(r.cfg.MinCopies, max(len(known), 1)), known, nil
}

// waitCopies waits until need replicas hold every blob of rec; it returns who holds them.
func (r *Replicator) waitCopies(ctx context.Context, rec record, need int) ([]string, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	watch := r.cli.Watch(wctx, r.k.holders(rec.Digest), clientv3.WithPrefix())
	for {
		holding, err := r.holding(ctx, rec)
		if err != nil {
			return holding, err
		}
		if len(holding) >= need {
			return holding, nil
		}
		t := time.NewTimer(time.Second) // a watch that stalls must not stall the push
		select {
		case <-ctx.Done():
			t.Stop()
			return holding, ctx.Err()
		case <-watch:
		case <-t.C:
		}
		t.Stop()
	}
}

// holding lists the replicas that hold every blob of rec.
func (r *Replicator) holding(ctx context.Context, rec record) ([]string, error) {
	var out []string
	for i, d := range rec.digests() {
		gctx, cancel := context.WithTimeout(ctx, r.timeout)
		resp, err := r.cli.Get(gctx, r.k.holders(d), clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err != nil {
			return out, fmt.Errorf("count copies of %s: %w", d, err)
		}
		var ids []string
		for _, kv := range resp.Kvs {
			_, id, _ := r.k.holderOf(string(kv.Key))
			if i == 0 || slices.Contains(out, id) {
				ids = append(ids, id)
			}
		}
		out = ids
	}
	return out, nil
}

// markReady turns the pending record ready, if it is still the one this replica wrote.
func (r *Replicator) markReady(ctx context.Context, rec record, rev int64) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	key := r.k.record(rec.Ref())
	resp, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, encode(rec))).Commit()
	if err != nil {
		return fmt.Errorf("publish %s: mark it ready: %w", rec.Ref(), err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: publish %s: its catalog record changed while the copies were made", artifact.ErrConflict, rec.Ref())
	}
	return nil
}

// withdraw deletes a pending record this replica wrote (best effort, with its own
// deadline: the push's context may be what ended). Peers then collect their copies.
func (r *Replicator) withdraw(rec record, rev int64) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	key := r.k.record(rec.Ref())
	_, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		r.log.Error("withdraw pending artifact record; it stays pending (never served) until deleted", "ref", rec.Ref(), "err", err)
		return
	}
	r.mu.Lock()
	if cur, ok := r.catalog[rec.Ref()]; ok && cur.State == statePending && cur.Digest == rec.Digest {
		delete(r.catalog, rec.Ref()) // the ingest's collection may remove the blobs now
	}
	r.mu.Unlock()
}

// unpublish is artifact.Hooks.Unpublish: the catalog record goes first.
func (r *Replicator) unpublish(ctx context.Context, a artifact.Artifact) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	key := r.k.record(a.Ref())
	resp, err := r.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("unpublish: read the catalog: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	cur, err := decodeRecord(resp.Kvs[0].Value)
	if err != nil {
		return err
	}
	if cur.Digest != a.Digest {
		return fmt.Errorf("%w: the catalog's %s has digest %s, not %s", artifact.ErrConflict, a.Ref(), cur.Digest, a.Digest)
	}
	// This replica's holder keys go in the same transaction, unless another record
	// uses the same bytes; the other replicas remove theirs when they collect.
	ops := []clientv3.Op{clientv3.OpDelete(key)}
	r.mu.Lock()
	delete(r.catalog, a.Ref())
	r.mu.Unlock()
	for _, d := range cur.digests() {
		if !r.referenced(d) {
			ops = append(ops, clientv3.OpDelete(r.k.holder(d, r.cfg.ID)))
		}
	}
	tr, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(ops...).Commit()
	if err == nil && !tr.Succeeded {
		err = fmt.Errorf("%w: %s changed in the catalog meanwhile; retry", artifact.ErrConflict, a.Ref())
	}
	if err != nil {
		r.mu.Lock()
		r.catalog[a.Ref()] = cur // still published
		r.mu.Unlock()
		return fmt.Errorf("unpublish %s: %w", a.Ref(), err)
	}
	return nil
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
