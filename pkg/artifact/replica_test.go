package artifact

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openReplicaTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenReplica(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// files lists what a store keeps under blobs/ and tmp/.
func files(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, d := range []string{blobsDir, tmpDir} {
		filepath.WalkDir(filepath.Join(s.dir, d), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out = append(out, strings.TrimPrefix(p, s.dir+"/"))
			}
			return nil
		})
	}
	return out
}

// TestPutBlobVerifiesTheDigest: bytes pulled from a peer are kept only under their own
// SHA-256; anything else leaves no file at all.
func TestPutBlobVerifiesTheDigest(t *testing.T) {
	for _, c := range []struct {
		name, digest, body string
		want               error
	}{
		{"exact bytes", digestOf("stage2 bytes"), "stage2 bytes", nil},
		{"tampered bytes", digestOf("stage2 bytes"), "stage2 bytez", ErrDigestMismatch},
		{"not a digest", "../../etc/passwd", "x", ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openReplicaTest(t, t.TempDir())
			err := s.PutBlob(context.Background(), c.digest, strings.NewReader(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("PutBlob: %v, want %v", err, c.want)
			}
			if got := files(t, s); c.want != nil && len(got) != 0 {
				t.Fatalf("a refused blob left %v", got)
			}
			if c.want == nil && !s.HasBlob(c.digest) {
				t.Fatal("an exact blob was not stored")
			}
		})
	}
}

// TestOpenFetchesAMissingBlob: a replica holding a record but not yet its bytes brings
// them through Hooks.Fetch when asked, and says not found when no peer can send them.
func TestOpenFetchesAMissingBlob(t *testing.T) {
	dir := t.TempDir()
	a := Artifact{Name: "vmlinuz", Version: "1", Kind: KindKernel, Digest: digestOf("kernel"), Size: 6}
	s := openReplicaTest(t, dir)
	if err := s.Adopt(a); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(dir); err == nil { // a single store insists on its blobs
		t.Fatal("Open loaded a record whose blob is missing")
	}
	s = openReplicaTest(t, dir)
	if _, ok := s.Resolve("vmlinuz"); !ok {
		t.Fatal("OpenReplica did not load the adopted record")
	}
	if _, err := s.Open(a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open without a fetch hook: %v, want not found", err)
	}
	peerDown := errors.New("no peer holds it")
	s.SetHooks(Hooks{Fetch: func(context.Context, string) error { return peerDown }})
	if _, err := s.Open(a); !errors.Is(err, ErrNotFound) || !errors.Is(err, peerDown) {
		t.Fatalf("Open with a failing fetch: %v", err)
	}
	s.SetHooks(Hooks{Fetch: func(ctx context.Context, d string) error { return s.PutBlob(ctx, d, strings.NewReader("kernel")) }})
	f, err := s.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != "kernel" {
		t.Fatalf("fetched %q", b)
	}
}

// TestPublishDecidesTheIngest: a refused publish stores nothing; while a publish waits,
// a collection keeps its blob; a blob another replica's pending record uses is kept; a
// refused unpublish keeps the record.
func TestPublishDecidesTheIngest(t *testing.T) {
	ctx := context.Background()
	s := openReplicaTest(t, t.TempDir())
	refused := errors.New("only one replica")
	s.SetHooks(Hooks{Publish: func(context.Context, Artifact) (Artifact, error) { return Artifact{}, refused }})
	if _, err := s.Ingest(ctx, Meta{Name: "a", Version: "1", Kind: KindKernel}, strings.NewReader("aaa"), nil); !errors.Is(err, refused) {
		t.Fatalf("ingest with a refused publish: %v", err)
	}
	if got := files(t, s); len(got) != 0 || len(s.List()) != 0 {
		t.Fatalf("a refused publish left %v, records %v", got, s.List())
	}

	var collectedDuring []string
	s.SetHooks(Hooks{Publish: func(_ context.Context, a Artifact) (Artifact, error) {
		var err error
		collectedDuring, err = s.Collect() // runs without the write lock, as a peer's deletion would
		return a, err
	}})
	if _, err := s.Ingest(ctx, Meta{Name: "b", Version: "1", Kind: KindKernel}, strings.NewReader("bbb"), nil); err != nil {
		t.Fatal(err)
	}
	if len(collectedDuring) != 0 || !s.HasBlob(digestOf("bbb")) {
		t.Fatalf("a collection during the publish removed %v", collectedDuring)
	}

	pending := digestOf("ccc")
	if err := s.PutBlob(ctx, pending, strings.NewReader("ccc")); err != nil {
		t.Fatal(err)
	}
	s.SetHooks(Hooks{Referenced: func(d string) bool { return d == pending },
		Unpublish: func(context.Context, Artifact) error { return refused }})
	if gone, err := s.Collect(); err != nil || len(gone) != 0 {
		t.Fatalf("collect removed %v (%v); the pending blob is referenced", gone, err)
	}
	if err := s.Delete(ctx, "b", "1", nil); !errors.Is(err, refused) {
		t.Fatalf("delete with a refused unpublish: %v", err)
	}
	if _, ok := s.Get("b", "1"); !ok || !s.HasBlob(digestOf("bbb")) {
		t.Fatal("a refused unpublish lost the record or its blob")
	}
}
