package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestEtcdStoreWiring: --store etcd locks the data dir (a second serve on it is refused)
// and caps the DHCP commit group so its worst case (a pod read, a put, a delete and a
// deletion mark per result, every result in another pod) fits one etcd transaction.
func TestEtcdStoreWiring(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store = StoreConfig{Kind: "etcd", Etcd: EtcdConfig{Endpoints: strings.Join(c.Endpoints(), ",")}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	fitStore(&cfg)
	if cfg.DHCP.CommitBatch != etcdCommitBatch {
		t.Fatalf("commit batch %d on etcd, want %d", cfg.DHCP.CommitBatch, etcdCommitBatch)
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := openStore(ctx, cfg); !errors.Is(err, podmgr.ErrStoreLocked) {
		t.Fatalf("second open of one data dir: %v, want ErrStoreLocked", err)
	}
	err = st.Update(ctx, func(tx podmgr.Tx) error {
		for i := range cfg.DHCP.CommitBatch {
			pod := fmt.Sprintf("pod%d", i)
			if _, _, err := tx.Pod(pod); err != nil { // the committer's incarnation check
				return err
			}
			if err := tx.PutLease(podmgr.Lease{Pod: pod, IP: "192.0.2.10", MAC: "52:54:00:00:00:01"}); err != nil {
				return err
			}
			if err := tx.DeleteLease(pod, "192.0.2.11"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a full DHCP commit group on etcd: %v", err)
	}
}
