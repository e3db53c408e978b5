package etcdstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// BenchmarkAppendHostEvent is the cost of host events in both stores: "ring" appends 20
// events a transaction to 64 hosts of 8 pods whose rings (4) are full, so every append
// also drops the host's oldest (the boot-storm steady state); "bytes" appends events
// that all stay and reports the stored bytes per event (etcd: keys and values under the
// prefix; bbolt: the file).
//
//	go test -run '^$' -bench AppendHostEvent -benchtime 4000x ./pkg/etcdstore/
func BenchmarkAppendHostEvent(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) eventStoreSize
	}{
		{"bbolt", func(b *testing.B) eventStoreSize { return boltSize{openBolt(b)} }},
		{"etcd1", func(b *testing.B) eventStoreSize { return etcdSize{openStore(b, testutil.StartEtcd(b, 1), "/bench/")} }},
	}
	ctx := context.Background()
	event := func(n int) podmgr.Event {
		return podmgr.Event{Time: time.Now().UTC(), Kind: podmgr.KindHost, Pod: fmt.Sprintf("pod-%d", n%8), MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", n>>8&0xff, n&0xff),
			Source: "192.0.2.9", Action: "dhcp.offer", State: podmgr.StateOffered, Detail: "ip=192.0.2.11"}
	}
	appendEvents := func(b *testing.B, st podmgr.Store, from, n int, mod int) {
		err := st.Update(ctx, func(tx podmgr.Tx) error {
			for i := from; i < from+n; i++ {
				if _, err := tx.AppendEvent(event(i % mod)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range stores {
		b.Run(s.name+"/ring", func(b *testing.B) {
			st := s.open(b)
			st.SetEventLimits(podmgr.EventLimits{PerHost: 4})
			for i := 0; i < 64*4; i += 20 {
				appendEvents(b, st, i, 20, 64)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += 20 {
				appendEvents(b, st, i, 20, 64)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(s.name+"/bytes", func(b *testing.B) {
			st := s.open(b)
			st.SetEventLimits(podmgr.EventLimits{PerHost: 1 << 30})
			base := st.storedBytes(b)
			for i := 0; i < b.N; i += 20 {
				appendEvents(b, st, i, 20, 1<<16)
			}
			b.ReportMetric(float64(st.storedBytes(b)-base)/float64((b.N+19)/20*20), "stored-B/event")
		})
	}
}

type eventStoreSize interface {
	eventStore
	storedBytes(b *testing.B) int64
}

type boltSize struct{ *podmgr.BoltStore }

func (s boltSize) storedBytes(b *testing.B) int64 {
	n, err := s.Size()
	if err != nil {
		b.Fatal(err)
	}
	return n
}

type etcdSize struct{ *Store }

func (s etcdSize) storedBytes(b *testing.B) int64 {
	var n int64
	from := s.prefix
	for {
		resp, err := s.cli.Get(context.Background(), from, clientv3.WithRange(prefixEnd(s.prefix)), clientv3.WithLimit(5000))
		if err != nil {
			b.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			n += int64(len(kv.Key) + len(kv.Value))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
