package blobsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/artifact"
)

// replicaOn is a replica's artifact store with its replicator, on a real etcd. Peers
// are not served: these tests need no pulls.
func replicaOn(t *testing.T, cli *clientv3.Client, id string, cfg Config) (*Replicator, *artifact.Store) {
	t.Helper()
	st, err := artifact.OpenReplica(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.ID, cfg.APIURL, cfg.Token = id, "https://"+id+".invalid:9443", "pbt_test"
	r, err := New(cfg, cli, "/t/", st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st.SetHooks(r.Hooks())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, 10*time.Second, "replica "+id+" to register", func() bool {
		resp, err := cli.Get(context.Background(), r.k.peer(id))
		return err == nil && len(resp.Kvs) == 1
	})
	return r, st
}

func catalogKeys(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	resp, err := cli.Get(context.Background(), "/t/artifacts/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), "/t/artifacts/"))
	}
	return out
}

// TestPushWaitsForCopies: with two replicas known and live but the other one never
// copying, a push fails after copyTimeout naming who holds it, the pending record is
// withdrawn and the pushing replica keeps nothing; with one replica known, one copy is
// enough.
func TestPushWaitsForCopies(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	cli := etcd.Client()
	ctx := context.Background()
	meta := artifact.Meta{Name: "stage1", Version: "1", Kind: artifact.KindKernel}

	_, alone := replicaOn(t, cli, "solo", Config{})
	if _, err := alone.Ingest(ctx, meta, strings.NewReader("one replica"), nil); err != nil {
		t.Fatalf("one known replica, default minCopies 2: %v", err)
	}

	live := func(context.Context) ([]string, error) { return []string{"a", "ghost", "solo"}, nil }
	if _, err := cli.Put(ctx, "/t/artifact-replicas/ghost", encode(peer{ID: "ghost", APIURL: "https://ghost.invalid:9443"})); err != nil {
		t.Fatal(err)
	}
	_, st := replicaOn(t, cli, "a", Config{MinCopies: 3, CopyTimeout: time.Second, Live: live})
	start := time.Now()
	meta.Version = "2"
	_, err := st.Ingest(ctx, meta, strings.NewReader("needs three copies"), nil)
	took := time.Since(start)
	if !errors.Is(err, artifact.ErrNotReplicated) || !strings.Contains(err.Error(), "stage1@2 is on 1 of the 3 replicas required within 1s (holding: a; known replicas: a, ghost, solo)") {
		t.Fatalf("push without enough copies: %v", err)
	}
	if took < time.Second || took > 15*time.Second {
		t.Fatalf("the refusal took %s, want copyTimeout (1s) and a little", took)
	}
	if got := strings.Join(catalogKeys(t, cli), " "); got != "stage1@1" {
		t.Fatalf("catalog after the refusal: %q, want stage1@1 only", got)
	}
	if _, ok := st.Get("stage1", "2"); ok || st.HasBlob(digestOf("needs three copies")) {
		t.Fatal("the refused push left its record or blob on the replica")
	}
}

// TestRacingPushesOneWins: two replicas publish one name@version with different bytes
// at the same instant, 10 rounds: exactly one succeeds, the other gets ErrConflict.
func TestRacingPushesOneWins(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	cli := etcd.Client()
	_, a := replicaOn(t, cli, "a", Config{MinCopies: 1})
	_, b := replicaOn(t, cli, "b", Config{MinCopies: 1})
	for i := range 10 {
		meta := artifact.Meta{Name: "race", Version: string(rune('a' + i)), Kind: artifact.KindKernel}
		var errs [2]error
		var wg sync.WaitGroup
		for j, st := range []*artifact.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = st.Ingest(context.Background(), meta, strings.NewReader(strings.Repeat("x", j+1)), nil)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, artifact.ErrConflict):
				t.Fatalf("round %d: %v, want a conflict", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d pushes succeeded (%v), want exactly 1", i, ok, errs)
		}
	}
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
