package blobsync

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/artifact"
)

// TestFirstStartBringsLocalImages: a data dir that served on bbolt starts on etcd for
// the first time (Adopt): its images are published ready with it as holder. A later
// start of another data dir holding a record the catalog lacks (deleted while it was
// away) drops that record and its blob.
func TestFirstStartBringsLocalImages(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	cli := etcd.Client()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		adopt bool
		want  string // catalog keys afterwards
	}{
		{"first start publishes", true, "kernel@1"},
		{"later start drops", false, "kernel@1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			local, err := artifact.Open(dir) // as on bbolt: no hooks
			if err != nil {
				t.Fatal(err)
			}
			name := map[bool]string{true: "kernel", false: "stale"}[c.adopt]
			if _, err := local.Ingest(ctx, artifact.Meta{Name: name, Version: "1", Kind: artifact.KindKernel}, strings.NewReader(name+" bytes"), nil); err != nil {
				t.Fatal(err)
			}
			local.Close()
			st, err := artifact.OpenReplica(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			r, err := New(Config{ID: "r-" + name, APIURL: "https://x.invalid", Token: "pbt_x", Adopt: c.adopt}, cli, "/t/", st, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			st.SetHooks(r.Hooks())
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); r.Run(rctx) }()
			t.Cleanup(func() { cancel(); <-done })
			testutil.WaitFor(t, 10*time.Second, "the first sync", func() bool {
				_, kept := st.Get(name, "1")
				return kept == c.adopt && st.HasBlob(digestOf(name+" bytes")) == c.adopt &&
					strings.Join(catalogKeys(t, cli), " ") == c.want
			})
			if c.adopt {
				resp, err := cli.Get(ctx, r.k.holder(digestOf("kernel bytes"), "r-kernel"))
				if err != nil || len(resp.Kvs) != 1 {
					t.Fatalf("the adopting replica is not a holder: %v", err)
				}
			}
		})
	}
}
