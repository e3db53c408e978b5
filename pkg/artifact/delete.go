package artifact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Delete removes the record of name@version and collects blobs no record uses any more.
// Whether the artifact may be deleted (is a profile using it?) is the caller's question:
// pass a check that refuses; it runs under the store's write lock.
func (s *Store) Delete(name, version string, check func(Artifact) error) error {
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
	if err := s.root.Remove(metaPath(a.Ref())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: remove record: %w", a.Ref(), err)
	}
	if err := syncDir(filepath.Join(s.dir, metaDir)); err != nil {
		return fmt.Errorf("delete %s: %w", a.Ref(), err)
	}
	s.mu.Lock()
	s.idx.remove(a.Name, a.Version)
	s.mu.Unlock()
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
	used := map[string]bool{}
	s.mu.RLock()
	s.idx.each(func(a Artifact) {
		used[a.Digest] = true
		if a.SignatureDigest != "" {
			used[a.SignatureDigest] = true
		}
	})
	s.mu.RUnlock()
	removed := 0
	base := filepath.Join(s.dir, blobsDir)
	shards, err := os.ReadDir(base)
	if err != nil {
		return 0, fmt.Errorf("collect blobs: %w", err)
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
			if used[b.Name()] {
				continue
			}
			if err := os.Remove(filepath.Join(base, sh.Name(), b.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("collect blob %s: %w", b.Name(), err)
			}
			removed++
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
