package etcdstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// BenchmarkLeaseCommit compares lease writes through the podmgr.Store interface on
// bbolt and on etcd (1 and 3 embedded members): "group40" is the DHCP committer's shape
// on etcd (40 leases per Update), "batch" many goroutines with one lease per Batch call.
//
//	go test -run '^$' -bench LeaseCommit -benchtime 2000x ./pkg/etcdstore/
func BenchmarkLeaseCommit(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) podmgr.Store
	}{
		{"bbolt", func(b *testing.B) podmgr.Store { return openBolt(b) }},
		{"etcd1", func(b *testing.B) podmgr.Store { return openStore(b, testutil.StartEtcd(b, 1), "/bench/") }},
		{"etcd3", func(b *testing.B) podmgr.Store { return openStore(b, testutil.StartEtcd(b, 3), "/bench/") }},
	}
	lease := func(n uint64) podmgr.Lease {
		return podmgr.Lease{Pod: "pod", IP: fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255), MAC: "52:54:00:00:00:01", Expires: time.Unix(2e9, 0)}
	}
	for _, s := range stores {
		b.Run(s.name+"/group40", func(b *testing.B) {
			st := s.open(b)
			ctx := context.Background()
			var n uint64
			b.ResetTimer()
			for range b.N {
				err := st.Update(ctx, func(tx podmgr.Tx) error {
					for range 40 {
						n++
						if err := tx.PutLease(lease(n)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*40)/b.Elapsed().Seconds(), "leases/s")
		})
		b.Run(s.name+"/batch", func(b *testing.B) {
			st := s.open(b)
			ctx := context.Background()
			var n atomic.Uint64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l := lease(n.Add(1))
					if err := st.Batch(ctx, func(tx podmgr.Tx) error { return tx.PutLease(l) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leases/s")
		})
	}
}
