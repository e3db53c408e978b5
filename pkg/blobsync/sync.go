package blobsync

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// sync makes the store match the catalog: ready records adopted, records the catalog
// lacks dropped (or, with adopt, published), holder keys true to the disk, unused
// blobs collected. It returns the catalog's revision, from which to follow.
func (r *Replicator) sync(ctx context.Context, adopt, first bool) (int64, error) {
	cat, rev, err := r.loadCatalog(ctx)
	if err != nil {
		return 0, err
	}
	if first {
		r.withdrawStale(ctx, cat, rev)
	}
	for _, a := range r.store.List() {
		rec, ok := cat[a.Ref()]
		switch {
		case ok && rec.State == stateReady && rec.Digest == a.Digest:
			continue
		case !ok && adopt:
			pub, err := r.adoptLocal(ctx, record{Artifact: a, State: stateReady, Origin: r.cfg.ID})
			if err != nil {
				return 0, err
			}
			cat[a.Ref()] = pub
			r.log.Info("artifact published from this replica's data dir", "ref", a.Ref(), "sha256", a.Digest)
			continue
		}
		if err := r.store.Forget(a.Name, a.Version); err != nil {
			return 0, err
		}
		r.log.Info("artifact dropped: not in the catalog", "ref", a.Ref())
	}
	r.mu.Lock()
	r.catalog = cat
	r.mu.Unlock()
	for _, rec := range cat {
		if rec.State != stateReady {
			continue
		}
		if err := r.store.Adopt(rec.Artifact); err != nil {
			return 0, err
		}
	}
	if err := r.syncHolders(ctx, cat); err != nil {
		return 0, err
	}
	r.collect(ctx)
	r.kick()
	return rev, nil
}

// withdrawStale deletes pending records this replica published before it stopped: no
// push of it is waiting for them any more, and they would never turn ready.
func (r *Replicator) withdrawStale(ctx context.Context, cat map[string]record, rev int64) {
	for ref, rec := range cat {
		if rec.State != statePending || rec.Origin != r.cfg.ID {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, r.timeout)
		key := r.k.record(ref) // unless a push begun since the load wrote it again
		resp, err := r.cli.Txn(clientv3.WithRequireLeader(dctx)).If(clientv3.Compare(clientv3.ModRevision(key), "<", rev+1)).
			Then(clientv3.OpDelete(key)).Commit()
		cancel()
		if err == nil && !resp.Succeeded {
			continue
		}
		if err != nil {
			r.log.Warn("withdraw a pending record left by an earlier run", "ref", ref, "err", err)
			continue
		}
		delete(cat, ref)
		r.log.Info("withdrew a pending record left by an earlier run (its push had failed)", "ref", ref)
	}
}

func (r *Replicator) loadCatalog(ctx context.Context) (map[string]record, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.k.records(), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("load the artifact catalog: %w", err)
	}
	cat := make(map[string]record, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		rec, err := decodeRecord(kv.Value)
		if err != nil {
			r.log.Error("artifact catalog: record does not decode; ignored", "key", string(kv.Key), "err", err)
			continue
		}
		cat[rec.Ref()] = rec
	}
	return cat, resp.Header.Revision, nil
}

// adoptLocal publishes a record this data dir holds and the catalog does not.
func (r *Replicator) adoptLocal(ctx context.Context, rec record) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	key := r.k.record(rec.Ref())
	ops := []clientv3.Op{clientv3.OpPut(key, encode(rec))}
	for _, d := range rec.digests() {
		if r.store.HasBlob(d) {
			ops = append(ops, clientv3.OpPut(r.k.holder(d, r.cfg.ID), ""))
		}
	}
	resp, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(ops...).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return record{}, fmt.Errorf("publish %s from the data dir: %w", rec.Ref(), err)
	}
	if resp.Succeeded {
		return rec, nil
	}
	return decodeRecord(resp.Responses[0].GetResponseRange().Kvs[0].Value)
}

// syncHolders makes this replica's holder keys say which catalog blobs are on its disk.
func (r *Replicator) syncHolders(ctx context.Context, cat map[string]record) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.cli.Get(ctx, r.k.allHolders(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("load artifact holders: %w", err)
	}
	claimed := map[string]bool{}
	for _, kv := range resp.Kvs {
		if d, id, ok := r.k.holderOf(string(kv.Key)); ok && id == r.cfg.ID {
			claimed[d] = true
		}
	}
	wanted := map[string]bool{}
	for _, rec := range cat {
		for _, d := range rec.digests() {
			wanted[d] = true
		}
	}
	var ops []clientv3.Op
	for d := range wanted {
		has := r.store.HasBlob(d)
		switch {
		case has && !claimed[d]:
			ops = append(ops, clientv3.OpPut(r.k.holder(d, r.cfg.ID), ""))
		case !has && claimed[d]:
			ops = append(ops, clientv3.OpDelete(r.k.holder(d, r.cfg.ID)))
		}
	}
	for d := range claimed {
		if !wanted[d] {
			ops = append(ops, clientv3.OpDelete(r.k.holder(d, r.cfg.ID)))
		}
	}
	for len(ops) > 0 { // etcd takes 128 operations per transaction
		n := min(len(ops), 100)
		if _, err := r.cli.Txn(clientv3.WithRequireLeader(ctx)).Then(ops[:n]...).Commit(); err != nil {
			return fmt.Errorf("update artifact holders of replica %s: %w", r.cfg.ID, err)
		}
		ops = ops[n:]
	}
	return nil
}

func (r *Replicator) putHolder(ctx context.Context, digest string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	_, err := r.cli.Put(clientv3.WithRequireLeader(ctx), r.k.holder(digest, r.cfg.ID), "")
	return err
}

func (r *Replicator) dropHolder(ctx context.Context, digest string) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	_, err := r.cli.Delete(clientv3.WithRequireLeader(ctx), r.k.holder(digest, r.cfg.ID))
	return err
}
