package podmgr

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkRecordHostEvent is the boot-storm path: many hosts' events from concurrent
// goroutines sharing Batch commits, every append past the host's ring (size 4), so the
// trim runs each time. The store is on /dev/shm when there is one: the figure is the
// transaction's work, not the disk's fsync.
func BenchmarkRecordHostEvent(b *testing.B) {
	dir := b.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "podboot-bench-"); err == nil {
		defer os.RemoveAll(shm)
		dir = shm
	}
	st, err := OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.SetEventLimits(EventLimits{PerHost: 4})
	ctx := context.Background()
	m, err := Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "default"}, true); err != nil {
		b.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, admin, testPod("pod-a", "192.0.2.1")); err != nil {
		b.Fatal(err)
	}
	const hosts = 64
	var hs []Host
	for i := range hosts {
		hs = append(hs, Host{MAC: fmt.Sprintf("52:54:00:00:01:%02x", i), Pod: "pod-a"})
	}
	if _, err := m.AddHosts(ctx, admin, hs); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := m.RecordHostEvent(ctx, hs[i%hosts].MAC, "bench", "step", "detail", HostUpdate{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendHostEvent is the per-event work inside a transaction (100 events a
// commit, rings of 4 full), without the batching delay that dominates the figure above.
func BenchmarkAppendHostEvent(b *testing.B) {
	dir := b.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "podboot-bench-"); err == nil {
		defer os.RemoveAll(shm)
		dir = shm
	}
	st, err := OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.SetEventLimits(EventLimits{PerHost: 4})
	ev := Event{Kind: KindHost, Source: "bench", Action: "step", Detail: "detail"}
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		err := st.Update(context.Background(), func(tx Tx) error {
			for j := range 100 {
				ev.MAC = fmt.Sprintf("52:54:00:00:01:%02x", (i+j)%64)
				if _, err := tx.AppendEvent(ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
