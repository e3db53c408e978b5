package podmgr

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkOpen measures building the registry from a store of 256 hosts per pod.
func BenchmarkOpen(b *testing.B) {
	pods := 200
	if v := os.Getenv("PODBOOT_BENCH_PODS"); v != "" {
		fmt.Sscan(v, &pods)
	}
	path := filepath.Join(b.TempDir(), "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := Open(context.Background(), st, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "default"}, true); err != nil {
		b.Fatal(err)
	}
	for p := 0; p < pods; p++ {
		pod := testPod(fmt.Sprintf("pod-%05d", p), "192.0.2.1")
		pod.Match[0].CircuitID = fmt.Sprintf("rack-%05d", p)
		if _, err := m.CreatePod(ctx, admin, pod); err != nil {
			b.Fatal(err)
		}
		hs := make([]Host, 250)
		for h := range hs {
			hs[h] = Host{MAC: fmt.Sprintf("02:00:%02x:%02x:00:%02x", p>>8, p&0xff, h), Pod: pod.Name, Hostname: fmt.Sprintf("n%05d-%03d", p, h), ProvisioningIP: fmt.Sprintf("192.0.2.%d", h+2)}
		}
		if _, err := m.AddHosts(ctx, admin, hs); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := OpenBolt(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(context.Background(), st, log); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}
