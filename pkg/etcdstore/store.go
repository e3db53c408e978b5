// Package etcdstore keeps podboot's state in etcd, so several `podboot serve` replicas
// can share one store of record that outlives any one machine.
//
// It implements podmgr.Store with the bbolt store's layout (one key per record plus
// index keys, under a prefix so one etcd holds several installs) and the same record
// encodings. Transactions are optimistic and serializable (txn.go): fn reads one
// snapshot, the commit is one etcd Txn that compares every key read, and a conflict runs
// fn again, so an invariant fn checks against the store holds across replicas.
// concurrency.NewSTM is not used: its follower reads fail with ErrFutureRev when the
// client has several endpoints.
package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Config says which etcd to use and how.
type Config struct {
	Endpoints []string
	// Prefix starts every key ("/podboot/" when empty); one etcd can hold several
	// podboot installs under different prefixes.
	Prefix string
	// CertFile, KeyFile and CAFile are the client certificate, its key and the CA that
	// signed the members' certificates (all empty: plain or system-trusted TLS).
	CertFile, KeyFile, CAFile string
	// RequestTimeout bounds every request (default 5s).
	RequestTimeout time.Duration
	// MaxTxnOps and MaxRequestBytes are the server's --max-txn-ops and
	// --max-request-bytes (defaults 128 and 1.5 MiB).
	MaxTxnOps       int
	MaxRequestBytes int
	// MaxAttempts bounds how often a conflicting transaction runs again (default 20).
	MaxAttempts int
	// BatchDelay is how long Batch waits for more callers (default 2ms).
	BatchDelay time.Duration
	// ImportTTL is the lease of a running host import (default 15s): when the serve
	// writing it dies, replicas roll the import back this long after (imports.go).
	// ImportSweep is how often a replica looks for such imports (default 5s).
	ImportTTL, ImportSweep time.Duration
	Log                    *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "/podboot/"
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = 128
	}
	if c.MaxRequestBytes <= 0 {
		// The server's limit, less a margin for the protobuf framing.
		c.MaxRequestBytes = 1572864 - 64*1024
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.BatchDelay <= 0 {
		c.BatchDelay = 2 * time.Millisecond
	}
	if c.ImportTTL < 2*time.Second {
		c.ImportTTL = 15 * time.Second
	}
	if c.ImportSweep <= 0 {
		c.ImportSweep = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Store is the podmgr.Store on etcd.
type Store struct {
	cfg    Config
	cli    *clientv3.Client
	prefix string
	batch  *batcher
	// wmu runs this process's write transactions one at a time, as bbolt does: nearly
	// every write takes the event counter, so concurrent ones would only conflict and
	// retry. Conflicts then come only from other replicas.
	wmu sync.Mutex
	// life ends when the store closes: it stops the change feeds (feed.go).
	life context.Context
	stop context.CancelFunc
	// perHost is how many events one host keeps (events.go).
	perHost atomic.Uint64
	// owners are the leases of the host imports this process runs (imports.go).
	owners importOwners
	// streams says whether etcd has RangeStream (stream.go); pruned is the lowest
	// event number the retention may still find (events.go).
	streams streamSupport
	pruned  atomic.Uint64
}

var _ podmgr.Store = (*Store)(nil)

// ErrContention says a transaction kept conflicting with concurrent writers.
var ErrContention = errors.New("etcd transaction kept conflicting with concurrent changes")

// schemaVersion is the key layout (records.go); the record encodings are podmgr's.
const schemaVersion = "1"

// Open connects to etcd and checks (or, on an empty prefix, writes) the schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints given")
	}
	tlsCfg, err := cfg.tls()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: 5 * time.Second,
		// A member that vanishes without a RST is found by the keepalive; without it
		// requests and watches on it hang (shared/notes/etcd.md, section 3).
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  tlsCfg,
		// podboot logs through slog; the client's own zap logger would print JSON
		// retries to stderr. Its errors reach us as return values.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	s := &Store{cfg: cfg, cli: cli, prefix: cfg.Prefix, owners: importOwners{leases: map[string]importLease{}}}
	s.life, s.stop = context.WithCancel(context.Background())
	s.perHost.Store(podmgr.DefaultEventLimits().PerHost)
	s.batch = newBatcher(s)
	err = s.initSchema(ctx)
	if err == nil {
		err = s.buildProfileIndex(ctx)
	}
	if err != nil {
		s.stop()
		cli.Close()
		return nil, fmt.Errorf("etcd store %s at %s: %w", cfg.Prefix, strings.Join(cfg.Endpoints, ","), err)
	}
	go s.sweepImports()
	go s.watchEventIndex()
	return s, nil
}

func (c *Config) tls() (*tls.Config, error) {
	if c.CertFile == "" && c.KeyFile == "" && c.CAFile == "" {
		for _, e := range c.Endpoints {
			if strings.HasPrefix(e, "https://") {
				return &tls.Config{MinVersion: tls.VersionTLS12}, nil
			}
		}
		return nil, nil
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("etcd store: give both the client certificate and its key, or neither")
	}
	info := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CAFile}
	t, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd client TLS: %w", err)
	}
	return t, nil
}

// Close ends the client.
func (s *Store) Close() error {
	s.stop()
	s.batch.close()
	return s.cli.Close()
}

// Prefix is the key prefix of this install.
func (s *Store) Prefix() string { return s.prefix }

// View implements podmgr.Store: fn reads one snapshot.
func (s *Store) View(ctx context.Context, fn func(podmgr.ReadTx) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(&recordTx{newTxn(ctx, s)})
		if err == nil || !retryable(err) || attempt >= s.cfg.MaxAttempts {
			return err
		}
	}
}

// Update implements podmgr.Store: fn runs until its writes commit on an unchanged
// snapshot, at most MaxAttempts times.
func (s *Store) Update(ctx context.Context, fn func(podmgr.Tx) error) error {
	for attempt := 1; ; attempt++ {
		ok, err := s.attempt(ctx, fn)
		if err != nil {
			if retryable(err) && attempt < s.cfg.MaxAttempts {
				continue
			}
			return err
		}
		if ok {
			return nil
		}
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("%w (%d attempts)", ErrContention, attempt)
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// attempt runs fn once on a new snapshot and commits its writes; ok is false on a
// conflict.
func (s *Store) attempt(ctx context.Context, fn func(podmgr.Tx) error) (ok bool, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := newTxn(ctx, s)
	if err := fn(&recordTx{t}); err != nil {
		return false, err
	}
	return t.commit()
}

// backoff waits a little, more after each conflict, so colliding writers spread out.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.IntN(1<<min(attempt, 6))) * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Batch implements podmgr.Store: concurrent callers share commits (batch.go).
func (s *Store) Batch(ctx context.Context, fn func(podmgr.Tx) error) error {
	return s.batch.do(ctx, fn)
}

// Health reports whether etcd serves now: a linearizable read through a member that has
// a leader. Its error is podmgr.ErrStoreUnavailable when etcd cannot serve.
func (s *Store) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), s.cfg.RequestTimeout)
	defer cancel()
	t := newTxn(ctx, s)
	if _, err := t.fetch(s.key(collMeta, "schema")); err != nil {
		return err
	}
	return nil
}

// HostsPerTxn implements podmgr.HostChunker: a host with a reservation and a profile
// override costs seven writes (host, pod index, reservation, profile index, event, event
// seq and pod indexes), eight with a BMC record, a part three more (audit record, event
// counter, event index mark), and a few are kept for the ring's trims.
func (s *Store) HostsPerTxn(withBMCs bool) int {
	writes := 7
	if withBMCs {
		writes++
	}
	return (s.cfg.MaxTxnOps - 9) / writes
}
