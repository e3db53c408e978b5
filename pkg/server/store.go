package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

// LockFile is the data dir's single-instance lock when the store is not the bbolt file
// (whose own lock is the data dir's lock otherwise).
const LockFile = "podboot.lock"

// openStore opens the configured store. With etcd the data dir keeps the PKI, the
// artifacts and its lock file; only the records live in etcd.
func openStore(ctx context.Context, cfg Config) (podmgr.Store, error) {
	if cfg.Store.Kind != "etcd" {
		return podmgr.OpenBolt(filepath.Join(cfg.DataDir, DBFile))
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	e := cfg.Store.Etcd
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cfg.Store.EndpointList(), Prefix: e.Prefix,
		CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile})
	if err != nil {
		lock.Close()
		return nil, err
	}
	return lockedStore{st, lock}, nil
}

// lockedStore releases the data dir's lock when the store closes. It embeds the etcd
// store itself, so what else the store offers (event retention) stays visible.
type lockedStore struct {
	*etcdstore.Store
	lock *os.File
}

var _ eventRetainer = lockedStore{}

func (s lockedStore) Close() error {
	return errors.Join(s.Store.Close(), s.lock.Close())
}

// lockDataDir takes an exclusive lock on DATA_DIR/podboot.lock, so two serves never
// share one data dir (PKI, artifacts).
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w (another podboot serve is using this data dir)", path, podmgr.ErrStoreLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// etcdCommitBatch is the most DHCP results one lease commit carries on etcd: each may
// put a lease, delete one and mark the deletion, and etcd takes 128 operations per
// transaction (the bbolt default of 1000 would be refused whole).
const etcdCommitBatch = 40

// fitStore adjusts settings whose defaults the store cannot carry.
func fitStore(cfg *Config) {
	if cfg.Store.Kind == "etcd" && (cfg.DHCP.CommitBatch == 0 || cfg.DHCP.CommitBatch > etcdCommitBatch) {
		cfg.DHCP.CommitBatch = etcdCommitBatch
	}
}
