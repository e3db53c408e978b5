package artifact

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Delete removes the record of name@version and collects blobs no record uses any more.
// Whether the artifact may be deleted (is a profile using it?) is the caller's question:
// pass a check that refuses; it runs under the store's write lock. A replicated store
// removes the shared record first (Hooks.Unpublish), so no replica starts a new
// download of it, then its own.
func (s *Store) Delete(ctx context.Context, name, version string, check func(Artifact) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	a, ok := s.Get(name, version)
	if !ok {
		return fmt.Errorf("delete %s@%s: %w", name, version, ErrNotFound)
	}
	if check != nil {
		if err := check(a); err != nil {
			return fmt.Errorf("delete %s: %w", a.Ref(), err)
		}
	}
	if s.hooks.Unpublish != nil {
		if err := s.hooks.Unpublish(ctx, a); err != nil {
			return fmt.Errorf("delete %s: %w", a.Ref(), err)
		}
	}
	if err := s.forgetLocked(a); err != nil {
		return fmt.Errorf("delete %s: %w", a.Ref(), err)
	}
	if _, err := s.collectLocked(); err != nil {
		return fmt.Errorf("delete %s: %w", a.Ref(), err)
	}
	return nil
}

// GC removes blobs that no record names and returns how many it removed.
func (s *Store) GC() (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.collectLocked()
}

func (s *Store) collectLocked() (int, error) {
	removed, err := s.collectDigests()
	return len(removed), err
}

// collectDigests removes every blob that no record names, no ingest in flight has
// pinned and no Referenced hook claims, and returns their digests. Blobs are unlinked,
// never truncated: a download in progress keeps reading its open descriptor.
func (s *Store) collectDigests() ([]string, error) {
	used := map[string]bool{}
	for d := range s.pinned {
		used[d] = true
	}
	s.mu.RLock()
	s.idx.each(func(a Artifact) {
		used[a.Digest] = true
		if a.SignatureDigest != "" {
			used[a.SignatureDigest] = true
		}
	})
	s.mu.RUnlock()
	var removed []string
	base := filepath.Join(s.dir, blobsDir)
	shards, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("collect blobs: %w", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		blobs, err := os.ReadDir(filepath.Join(base, sh.Name()))
		if err != nil {
			return removed, fmt.Errorf("collect blobs: %w", err)
		}
		for _, b := range blobs {
			if used[b.Name()] || (s.hooks.Referenced != nil && s.hooks.Referenced(b.Name())) {
				continue
			}
			if err := os.Remove(filepath.Join(base, sh.Name(), b.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("collect blob %s: %w", b.Name(), err)
			}
			removed = append(removed, b.Name())
		}
	}
	return removed, nil
}

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(dir), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(dir), err)
	}
	return nil
}
