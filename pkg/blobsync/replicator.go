package blobsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/artifact"
)

// Defaults of Config.
const (
	DefaultMinCopies   = 2
	DefaultCopyTimeout = 2 * time.Minute
)

// Config is one replica's part in the replication.
type Config struct {
	// ID names this replica in holder keys; stable across restarts (the data dir keeps it).
	ID string
	// APIURL is where peers reach this replica's management API.
	APIURL string
	// CAPEM verifies this replica's API certificate (empty: the system roots).
	CAPEM []byte
	// Token is this replica's replica-role API token, sent when it pulls from a peer.
	Token string
	// MinCopies is how many replicas must hold a pushed blob before the push returns
	// (default 2), capped at the number of replicas the catalog knows.
	MinCopies int
	// CopyTimeout bounds the wait for those copies (default 2 min).
	CopyTimeout time.Duration
	// Live lists the live replicas by name (the membership); nil means unknown. Pulls
	// try live holders first, and a push fails at once when fewer replicas are live
	// than copies are required.
	Live func(ctx context.Context) ([]string, error)
	// Adopt publishes local records the catalog lacks at the first sync: a data dir
	// that served on bbolt brings its images along. Later starts drop such records
	// instead (the catalog deleted them while this replica was away).
	Adopt bool
}

func (c *Config) setDefaults() {
	if c.MinCopies <= 0 {
		c.MinCopies = DefaultMinCopies
	}
	if c.CopyTimeout <= 0 {
		c.CopyTimeout = DefaultCopyTimeout
	}
}

// Replicator keeps one replica's artifact store in step with the catalog in etcd.
type Replicator struct {
	cfg     Config
	cli     *clientv3.Client
	k       keys
	store   *artifact.Store
	log     *slog.Logger
	timeout time.Duration // per etcd request

	// mu guards the catalog copy and the pulls in flight. It is never held while the
	// artifact store is called: the store calls back into Referenced under its own lock.
	mu      sync.Mutex
	catalog map[string]record // by name@version, pending and ready
	pulls   map[string]*pull  // by digest
	clients map[string]*http.Client
	// wake tells the pull loop that records need blobs.
	wake chan struct{}
	m    *metrics
}

// New builds the replicator; Hooks gives the store its side, Run keeps it in step.
func New(cfg Config, cli *clientv3.Client, prefix string, store *artifact.Store, log *slog.Logger) (*Replicator, error) {
	cfg.setDefaults()
	if cfg.ID == "" || cfg.APIURL == "" || cfg.Token == "" {
		return nil, errors.New("artifact replication: a replica ID, an API URL and a replica token are required")
	}
	r := &Replicator{cfg: cfg, cli: cli, k: keys{prefix}, store: store, log: log, timeout: 5 * time.Second,
		catalog: map[string]record{}, pulls: map[string]*pull{}, clients: map[string]*http.Client{}, wake: make(chan struct{}, 1)}
	r.m = newMetrics(r)
	return r, nil
}

// Hooks are the store's calls into the replication (artifact.Store.SetHooks).
func (r *Replicator) Hooks() artifact.Hooks {
	return artifact.Hooks{Publish: r.publish, Unpublish: r.unpublish, Fetch: r.fetch, Referenced: r.referenced}
}

// Run registers this replica, syncs the store with the catalog and follows the
// catalog until ctx ends. A watch that fails (no leader, compaction) syncs again.
func (r *Replicator) Run(ctx context.Context) error {
	for {
		err := r.register(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("artifact replication: register this replica; retrying", "err", err)
		sleep(ctx, time.Second)
	}
	go r.pullLoop(ctx)
	adopt, first := r.cfg.Adopt, true
	for ctx.Err() == nil {
		rev, err := r.sync(ctx, adopt, first)
		if err != nil {
			r.log.Warn("artifact catalog sync failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		adopt, first = false, false
		err = r.follow(ctx, rev)
		if ctx.Err() == nil {
			r.log.Warn("artifact catalog watch ended; syncing again", "err", err)
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// register writes this replica's peer entry (not on a lease: a replica that is down
// still counts as a place copies are expected, see MinCopies).
func (r *Replicator) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	p := peer{ID: r.cfg.ID, APIURL: r.cfg.APIURL, CAPEM: string(r.cfg.CAPEM)}
	if _, err := r.cli.Put(clientv3.WithRequireLeader(ctx), r.k.peer(r.cfg.ID), encode(p)); err != nil {
		return fmt.Errorf("register replica %s for artifact replication: %w", r.cfg.ID, err)
	}
	return nil
}

// follow applies catalog changes from rev+1 on.
func (r *Replicator) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range r.cli.Watch(wctx, r.k.records(), clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return err
		}
		for _, ev := range resp.Events {
			ref := r.k.refOf(string(ev.Kv.Key))
			if ev.Type == clientv3.EventTypeDelete {
				r.removed(ctx, ref)
				continue
			}
			rec, err := decodeRecord(ev.Kv.Value)
			if err != nil {
				r.log.Error("artifact catalog: record does not decode; ignored", "ref", ref, "err", err)
				continue
			}
			r.changed(rec)
		}
	}
	return errors.New("watch closed")
}

// changed takes a new or updated record: ready ones are served from now on, and the
// pull loop fetches missing blobs of both kinds.
func (r *Replicator) changed(rec record) {
	r.mu.Lock()
	r.catalog[rec.Ref()] = rec
	r.mu.Unlock()
	if rec.State == stateReady {
		if err := r.store.Adopt(rec.Artifact); err != nil {
			r.log.Error("artifact catalog: adopt record", "ref", rec.Ref(), "err", err)
		}
	}
	r.kick()
}

// removed drops a deleted record and collects blobs nothing uses any more.
func (r *Replicator) removed(ctx context.Context, ref string) {
	r.mu.Lock()
	rec, ok := r.catalog[ref]
	delete(r.catalog, ref)
	r.mu.Unlock()
	if ok {
		if err := r.store.Forget(rec.Name, rec.Version); err != nil {
			r.log.Error("artifact catalog: forget record", "ref", ref, "err", err)
		}
	}
	r.collect(ctx)
}

// collect removes unused local blobs and this replica's holder keys for them.
func (r *Replicator) collect(ctx context.Context) {
	gone, err := r.store.Collect()
	if err != nil {
		r.log.Error("artifact collection", "err", err)
	}
	for _, d := range gone {
		if err := r.dropHolder(ctx, d); err != nil {
			r.log.Warn("artifact collection: remove holder key", "digest", d, "err", err)
		}
	}
	if len(gone) > 0 {
		r.log.Info("collected unused artifact blobs", "blobs", len(gone))
	}
}

// referenced reports whether a catalog record (pending ones too) uses digest.
func (r *Replicator) referenced(digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.catalog {
		if rec.Digest == digest || rec.SignatureDigest == digest {
			return true
		}
	}
	return false
}

func (r *Replicator) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
