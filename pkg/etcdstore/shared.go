package etcdstore

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Client is the store's etcd client, for what shares the cluster beside the records:
// replica membership and pod ownership (pkg/replica).
func (s *Store) Client() *clientv3.Client { return s.cli }

// ReadGuarded reads key (a full key, under any prefix) in tx's snapshot, and makes tx's
// commit require the key unchanged: a transaction that checked the key (a pod's owner
// key, say) cannot commit once someone else changed or deleted it. tx must be one of
// this package's transactions.
func ReadGuarded(tx podmgr.ReadTx, key string) ([]byte, bool, error) {
	rt, ok := tx.(*recordTx)
	if !ok {
		return nil, false, fmt.Errorf("read %s: not an etcd transaction (%T)", key, tx)
	}
	return rt.t.get(key)
}
