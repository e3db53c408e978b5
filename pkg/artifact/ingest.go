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

// VerifyFunc approves or refuses ingested content before it is committed. It gets the
// SHA-256 of the content and the fsynced temporary file, positioned at its start. An
// error refuses the artifact: nothing is stored and Ingest returns the error wrapped
// in ErrRejected.
type VerifyFunc func(ctx context.Context, digest [32]byte, content *os.File) error

// Ingest streams r into the store as meta.Name@meta.Version: to a temporary file while
// hashing it, fsync, verify (optional), then an atomic rename into the blob tree and an
// atomic record write. Ingesting the same name, version and content again is a no-op
// that returns the existing record; the same name and version with other content is
// ErrConflict (versions are immutable), and so is a kind other than the name's (see
// CheckKind).
func (s *Store) Ingest(ctx context.Context, meta Meta, r io.Reader, verify VerifyFunc) (Artifact, error) {
	if err := ValidName("artifact name", meta.Name); err != nil {
		return Artifact{}, err
	}
	if err := ValidName("artifact version", meta.Version); err != nil {
		return Artifact{}, err
	}
	if !ValidKind(meta.Kind) {
		return Artifact{}, fmt.Errorf("%w: kind %q: use bootloader, kernel, initrd, stage2 or package", ErrInvalid, meta.Kind)
	}
	ref := meta.Name + "@" + meta.Version
	if err := s.CheckKind(meta.Name, meta.Kind); err != nil { // early: before the body
		return Artifact{}, fmt.Errorf("ingest %s: %w", ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "ingest-*")
	if err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: create temporary file: %w", ref, err)
	}
	committed := false
	defer func() {
		tmp.Close()
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx: ctx, r: r})
	if err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: receive content: %w", ref, err)
	}
	if err := tmp.Sync(); err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: fsync: %w", ref, err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if verify != nil {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return Artifact{}, fmt.Errorf("ingest %s: rewind for verification: %w", ref, err)
		}
		if err := verify(ctx, sum, tmp); err != nil {
			return Artifact{}, fmt.Errorf("ingest %s: %w: %w", ref, ErrRejected, err)
		}
	}
	a := Artifact{Name: meta.Name, Version: meta.Version, Kind: meta.Kind, Digest: hex.EncodeToString(sum[:]), Size: size, Signer: meta.Signer}

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if old, ok := s.Get(meta.Name, meta.Version); ok {
		if old.Digest == a.Digest {
			return old, nil
		}
		return Artifact{}, fmt.Errorf("%w: %s already exists with digest %s: versions are immutable, add a new version", ErrConflict, ref, old.Digest)
	}
	if err := s.CheckKind(meta.Name, meta.Kind); err != nil { // again, under the write lock
		return Artifact{}, fmt.Errorf("ingest %s: %w", ref, err)
	}
	if err := s.commitBlob(tmp.Name(), a.Digest); err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: %w", ref, err)
	}
	committed = true
	if len(meta.Signature) > 0 {
		ss := sha256.Sum256(meta.Signature)
		a.SignatureDigest, a.SignatureSize = hex.EncodeToString(ss[:]), int64(len(meta.Signature))
		if err := s.writeBlobBytes(a.SignatureDigest, meta.Signature); err != nil {
			return Artifact{}, fmt.Errorf("ingest %s: store signature: %w", ref, err)
		}
	}
	a.CreatedAt = s.now().UTC()
	if s.hooks.Publish != nil {
		published, err := s.publishUnlocked(ctx, a)
		if err != nil {
			if _, cerr := s.collectLocked(); cerr != nil {
				err = errors.Join(err, cerr)
			}
			return Artifact{}, fmt.Errorf("ingest %s: %w", ref, err)
		}
		a = published
	}
	rec, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: encode record: %w", ref, err)
	}
	if err := s.writeAtomic(metaPath(ref), rec); err != nil {
		return Artifact{}, fmt.Errorf("ingest %s: write record: %w", ref, err)
	}
	s.mu.Lock()
	s.idx.add(a)
	s.mu.Unlock()
	return a, nil
}

// publishUnlocked runs Hooks.Publish without the write lock (it may wait seconds for
// peers to copy the blobs, and peers' pulls must not wait for this ingest), with the
// blobs pinned so no collection removes them meanwhile. Called and returns with wmu held.
// An identical record published first by another replica is returned as it is.
func (s *Store) publishUnlocked(ctx context.Context, a Artifact) (Artifact, error) {
	s.pin(a.Digest, a.SignatureDigest)
	publish := s.hooks.Publish
	s.wmu.Unlock()
	got, err := publish(ctx, a)
	s.wmu.Lock()
	s.unpin(a.Digest, a.SignatureDigest)
	return got, err
}

// commitBlob moves a fsynced temporary file into the blob tree, or drops it when the
// blob already exists (deduplication).
func (s *Store) commitBlob(tmpName, digest string) error {
	dst := filepath.Join(s.dir, filepath.FromSlash(blobPath(digest)))
	if _, err := os.Lstat(dst); err == nil {
		return os.Remove(tmpName)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	if err := os.Chmod(tmpName, 0o444); err != nil {
		return fmt.Errorf("seal blob: %w", err)
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return fmt.Errorf("commit blob: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// writeBlobBytes stores a small blob (a signature) given in memory.
func (s *Store) writeBlobBytes(digest string, b []byte) error {
	name, err := s.writeTemp("blob-*", b)
	if err != nil {
		return err
	}
	if err := s.commitBlob(name, digest); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// writeTemp writes b to a new synced file in the store's temporary directory (named
// by pattern, as os.CreateTemp) and returns its path; nothing is left on failure.
func (s *Store) writeTemp(pattern string, b []byte) (string, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), pattern)
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// writeAtomic writes rel (relative to the store) by temp file, fsync, rename, fsync dir.
func (s *Store) writeAtomic(rel string, b []byte) error {
	dst := filepath.Join(s.dir, filepath.FromSlash(rel))
	name, err := s.writeTemp("rec-*", b)
	if err != nil {
		return err
	}
	if err := os.Rename(name, dst); err != nil {
		os.Remove(name)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// ctxReader stops a long ingest when its context ends (client gone, shutdown).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
