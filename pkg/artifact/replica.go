package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Hooks let a replicated deployment (several serves on one etcd, pkg/blobsync) take
// part in the store's life: the catalog then lives elsewhere and blobs can be brought
// from peers. A single serve sets none and nothing changes.
type Hooks struct {
	// Publish runs after an ingest's blobs are committed and before its record is
	// written; it returns the record as the catalog holds it (another replica may have
	// published the same content first). An error refuses the ingest and nothing stays
	// (its blobs are collected).
	Publish func(ctx context.Context, a Artifact) (Artifact, error)
	// Unpublish runs before a deletion removes the local record: an error keeps it.
	Unpublish func(ctx context.Context, a Artifact) error
	// Fetch brings a blob the store lacks (a record arrived before its bytes); OpenBlob
	// calls it on a miss and opens the blob again.
	Fetch func(ctx context.Context, digest string) error
	// Referenced reports digests that records elsewhere still use (a push in progress
	// on another replica): collection keeps them.
	Referenced func(digest string) bool
}

// ErrDigestMismatch marks bytes whose SHA-256 is not the digest they were sent as.
var ErrDigestMismatch = errors.New("content does not match its digest")

// ErrNotReplicated marks an ingest whose blob did not reach enough replicas in time.
var ErrNotReplicated = errors.New("not stored on enough replicas")

// OpenReplica opens the store of one replica of several: records may name blobs that
// are not here yet (Fetch brings them), and nothing is collected at open, since only
// the shared catalog knows what is garbage (the replicator collects after its sync).
func OpenReplica(dir string) (*Store, error) { return open(dir, true) }

// SetHooks installs the replication hooks; call it before the store serves.
func (s *Store) SetHooks(h Hooks) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.hooks = h
}

// HasBlob reports whether the blob is on this replica's disk.
func (s *Store) HasBlob(digest string) bool {
	if !validDigest(digest) {
		return false
	}
	_, err := s.root.Stat(blobPath(digest))
	return err == nil
}

// OpenLocalBlob opens a blob on this replica's disk only (what a peer pulls): it never
// fetches, so two replicas lacking a blob cannot ask each other in a loop.
func (s *Store) OpenLocalBlob(digest string) (*os.File, error) { return s.openLocal(digest) }

// PutBlob stores bytes pulled from a peer as the blob digest: streamed to a temporary
// file while hashed, fsynced, and renamed into place only when the SHA-256 matches
// (ErrDigestMismatch otherwise; nothing is kept).
func (s *Store) PutBlob(ctx context.Context, digest string, r io.Reader) error {
	if !validDigest(digest) {
		return fmt.Errorf("put blob %q: %w: not a sha256 digest", digest, ErrInvalid)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "pull-*")
	if err != nil {
		return fmt.Errorf("put blob %s: create temporary file: %w", digest, err)
	}
	committed := false
	defer func() {
		tmp.Close()
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx: ctx, r: r}); err != nil {
		return fmt.Errorf("put blob %s: receive: %w", digest, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return fmt.Errorf("put blob %s: %w: received bytes hash to %s", digest, ErrDigestMismatch, got)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("put blob %s: fsync: %w", digest, err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.commitBlob(tmp.Name(), digest); err != nil {
		return fmt.Errorf("put blob %s: %w", digest, err)
	}
	committed = true
	return nil
}

// Adopt writes a record that the shared catalog holds (its blobs may follow later) and
// indexes it. Adopting a record already here is a no-op.
func (s *Store) Adopt(a Artifact) error {
	if err := ValidName("artifact name", a.Name); err != nil {
		return err
	}
	if err := ValidName("artifact version", a.Version); err != nil {
		return err
	}
	if !validDigest(a.Digest) || (a.SignatureDigest != "" && !validDigest(a.SignatureDigest)) {
		return fmt.Errorf("adopt %s: %w: bad digest", a.Ref(), ErrInvalid)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if old, ok := s.Get(a.Name, a.Version); ok && old == a {
		return nil
	}
	rec, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("adopt %s: encode record: %w", a.Ref(), err)
	}
	if err := s.writeAtomic(metaPath(a.Ref()), rec); err != nil {
		return fmt.Errorf("adopt %s: write record: %w", a.Ref(), err)
	}
	s.mu.Lock()
	s.idx.add(a)
	s.mu.Unlock()
	return nil
}

// Forget removes the local record of name@version that the shared catalog no longer
// holds; Collect then removes blobs nothing uses.
func (s *Store) Forget(name, version string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.forgetLocked(Artifact{Name: name, Version: version})
}

func (s *Store) forgetLocked(a Artifact) error {
	if err := s.root.Remove(metaPath(a.Ref())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("forget %s: remove record: %w", a.Ref(), err)
	}
	if err := syncDir(filepath.Join(s.dir, metaDir)); err != nil {
		return fmt.Errorf("forget %s: %w", a.Ref(), err)
	}
	s.mu.Lock()
	s.idx.remove(a.Name, a.Version)
	s.mu.Unlock()
	return nil
}

// Collect removes blobs no record (and no Referenced hook) uses; it returns the digests
// removed.
func (s *Store) Collect() ([]string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.collectDigests()
}

// pin keeps digests from collection while an ingest publishes them (outside the write
// lock); unpin releases them. Called with wmu held.
func (s *Store) pin(digests ...string) {
	if s.pinned == nil {
		s.pinned = map[string]int{}
	}
	for _, d := range digests {
		if d != "" {
			s.pinned[d]++
		}
	}
}

func (s *Store) unpin(digests ...string) {
	for _, d := range digests {
		if d == "" {
			continue
		}
		if s.pinned[d]--; s.pinned[d] <= 0 {
			delete(s.pinned, d)
		}
	}
}
