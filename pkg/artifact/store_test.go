package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func digestOf(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestIngestDedupAndReopen(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	a1, err := s.Ingest(ctx, Meta{Name: "vmlinuz", Version: "1", Kind: KindKernel}, strings.NewReader("kernel-bytes"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a1.Digest != digestOf("kernel-bytes") || a1.Size != 12 {
		t.Fatalf("record %+v", a1)
	}
	// Same bytes under another name: one blob.
	if _, err := s.Ingest(ctx, Meta{Name: "other", Version: "2", Kind: KindKernel, Signature: []byte("sig")}, strings.NewReader("kernel-bytes"), nil); err != nil {
		t.Fatal(err)
	}
	// Same ref, same bytes: idempotent. Same ref, other bytes: conflict.
	if again, err := s.Ingest(ctx, Meta{Name: "vmlinuz", Version: "1", Kind: KindKernel}, strings.NewReader("kernel-bytes"), nil); err != nil || again.CreatedAt != a1.CreatedAt {
		t.Fatalf("re-ingest: %v %+v", err, again)
	}
	if _, err := s.Ingest(ctx, Meta{Name: "vmlinuz", Version: "1", Kind: KindKernel}, strings.NewReader("other"), nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("want conflict, got %v", err)
	}
	blobs, _ := filepath.Glob(filepath.Join(s.Dir(), blobsDir, "*", "*"))
	if len(blobs) != 2 { // content + signature
		t.Fatalf("want 2 blobs, got %v", blobs)
	}
	tmps, _ := os.ReadDir(filepath.Join(s.Dir(), tmpDir))
	if len(tmps) != 0 {
		t.Fatalf("tmp not empty: %v", tmps)
	}
	// An orphan blob (crash after the blob rename, before the record) goes at Open.
	orphan := digestOf("orphan")
	os.MkdirAll(filepath.Join(s.Dir(), blobsDir, orphan[:2]), 0o750)
	os.WriteFile(filepath.Join(s.Dir(), blobsDir, orphan[:2], orphan), []byte("orphan"), 0o444)
	s2, err := Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.OpenBlob(orphan); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphan blob kept: %v", err)
	}
	got, ok := s2.Resolve("other@2")
	if !ok || !got.Signed() || got.Digest != a1.Digest {
		t.Fatalf("reopen: %+v %v", got, ok)
	}
	f, err := s2.OpenSignature(got)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "sig" {
		t.Fatalf("signature %q", b)
	}
}

func TestIngestRefusals(t *testing.T) {
	ctx := context.Background()
	refuse := errors.New("bad signature")
	tests := []struct {
		name   string
		meta   Meta
		verify VerifyFunc
		want   error
	}{
		{"traversal name", Meta{Name: "../x", Version: "1", Kind: KindKernel}, nil, ErrInvalid},
		{"dotdot inside", Meta{Name: "a..b", Version: "1", Kind: KindKernel}, nil, ErrInvalid},
		{"slash version", Meta{Name: "a", Version: "1/2", Kind: KindKernel}, nil, ErrInvalid},
		{"bad kind", Meta{Name: "a", Version: "1", Kind: "rootkit"}, nil, ErrInvalid},
		{"verify refuses", Meta{Name: "a", Version: "1", Kind: KindStage2}, func(ctx context.Context, d [32]byte, f *os.File) error {
			b, _ := io.ReadAll(f)
			if sha256.Sum256(b) != d {
				t.Error("verify saw other bytes than the digest")
			}
			return refuse
		}, refuse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			_, err := s.Ingest(ctx, tt.meta, bytes.NewReader([]byte("content")), tt.verify)
			if !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			if len(s.List()) != 0 {
				t.Fatal("refused artifact was stored")
			}
			blobs, _ := filepath.Glob(filepath.Join(s.Dir(), blobsDir, "*", "*"))
			tmps, _ := os.ReadDir(filepath.Join(s.Dir(), tmpDir))
			if len(blobs)+len(tmps) != 0 {
				t.Fatalf("left behind: %v %v", blobs, tmps)
			}
		})
	}
}

func TestResolveDeleteGC(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	tick := 0
	s.now = func() time.Time { tick++; return time.Unix(int64(1000+tick), 0) }
	for _, v := range []string{"1", "2"} {
		if _, err := s.Ingest(ctx, Meta{Name: "initrd", Version: v, Kind: KindInitrd}, strings.NewReader("v"+v), nil); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := s.Resolve("initrd"); a.Version != "2" {
		t.Fatalf("bare name resolved to %s", a.Version)
	}
	inUse := errors.New("in use")
	if err := s.Delete(context.Background(), "initrd", "2", func(Artifact) error { return inUse }); !errors.Is(err, inUse) {
		t.Fatalf("check ignored: %v", err)
	}
	if err := s.Delete(context.Background(), "initrd", "2", nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Resolve("initrd"); a.Version != "1" {
		t.Fatalf("after delete resolved to %s", a.Version)
	}
	if _, err := s.OpenBlob(digestOf("v2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blob of deleted artifact not collected: %v", err)
	}
	if err := s.Delete(context.Background(), "initrd", "9", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
}

func TestOpenBlobRefusesSymlinkEscape(t *testing.T) {
	s := openTest(t)
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o600)
	d := digestOf("x")
	os.MkdirAll(filepath.Join(s.Dir(), blobsDir, d[:2]), 0o750)
	if err := os.Symlink(outside, filepath.Join(s.Dir(), blobsDir, d[:2], d)); err != nil {
		t.Fatal(err)
	}
	if f, err := s.OpenBlob(d); err == nil {
		f.Close()
		t.Fatal("symlink out of the store was followed")
	}
	if _, err := s.OpenBlob("../../etc/passwd"); err == nil {
		t.Fatal("non-digest accepted")
	}
}
