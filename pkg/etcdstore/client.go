package etcdstore

import clientv3 "go.etcd.io/etcd/client/v3"

// Client is the store's etcd client, for what shares the cluster and the prefix
// without being a podmgr record (the artifact catalog, pkg/blobsync).
func (s *Store) Client() *clientv3.Client { return s.cli }
