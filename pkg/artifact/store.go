package artifact

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	blobsDir = "blobs/sha256"
	metaDir  = "meta"
	tmpDir   = "tmp"
)

// Store is the artifact store in one directory. It is safe for concurrent use.
type Store struct {
	dir  string
	root *os.Root // opened on dir: blob reads cannot escape it
	now  func() time.Time

	mu sync.RWMutex
	// idx holds the records by name and version, and each name's newest version.
	idx *index
	// wmu serialises commits and deletions so a blob is never collected while a commit
	// that reuses it is in flight.
	wmu sync.Mutex
	// hooks, pinned and replicated are guarded by wmu (replica.go).
	hooks      Hooks
	pinned     map[string]int
	replicated bool
}

// Open opens (creating if needed) the store in dir, loads its records and removes
// leftovers of interrupted ingests (temporary files, blobs no record names).
func Open(dir string) (*Store, error) { return open(dir, false) }

func open(dir string, replicated bool) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, blobsDir), filepath.Join(dir, metaDir), filepath.Join(dir, tmpDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("open artifact store: create %s: %w", d, err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", dir, err)
	}
	s := &Store{dir: dir, root: root, now: time.Now, idx: newIndex(), replicated: replicated}
	if err := s.cleanTmp(); err != nil {
		root.Close()
		return nil, err
	}
	if err := s.load(); err != nil {
		root.Close()
		return nil, err
	}
	if replicated {
		return s, nil
	}
	// A crash between committing a blob and writing its record leaves an orphan blob.
	if _, err := s.collectLocked(); err != nil {
		root.Close()
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	return s, nil
}

// Close releases the store's directory handle.
func (s *Store) Close() error { return s.root.Close() }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) cleanTmp() error {
	ents, err := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if err != nil {
		return fmt.Errorf("open artifact store: read tmp: %w", err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(s.dir, tmpDir, e.Name())); err != nil {
			return fmt.Errorf("open artifact store: remove interrupted ingest %s: %w", e.Name(), err)
		}
	}
	return nil
}

func (s *Store) load() error {
	ents, err := os.ReadDir(filepath.Join(s.dir, metaDir))
	if err != nil {
		return fmt.Errorf("open artifact store: read records: %w", err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		b, err := s.root.ReadFile(metaDir + "/" + e.Name())
		if err != nil {
			return fmt.Errorf("open artifact store: read record %s: %w", e.Name(), err)
		}
		var a Artifact
		if err := json.Unmarshal(b, &a); err != nil {
			return fmt.Errorf("open artifact store: record %s is damaged: %w", e.Name(), err)
		}
		if a.Ref()+".json" != e.Name() || !validDigest(a.Digest) || (a.SignatureDigest != "" && !validDigest(a.SignatureDigest)) {
			return fmt.Errorf("open artifact store: record %s does not match its name or has a bad digest", e.Name())
		}
		if _, err := s.root.Stat(blobPath(a.Digest)); err != nil && !s.replicated {
			return fmt.Errorf("open artifact store: blob of %s is missing: %w", a.Ref(), err)
		}
		s.idx.add(a)
	}
	return nil
}

// blobPath is the blob's path relative to the store directory.
func blobPath(digest string) string {
	return blobsDir + "/" + digest[:2] + "/" + digest
}

func metaPath(ref string) string { return metaDir + "/" + ref + ".json" }

// Get returns the record of name@version.
func (s *Store) Get(name, version string) (Artifact, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.get(name, version)
}

// Resolve returns the artifact a reference names: name@version exactly, or for a bare
// name the newest version (latest CreatedAt, then the greatest version string).
func (s *Store) Resolve(ref string) (Artifact, bool) {
	name, version, err := ParseRef(ref)
	if err != nil {
		return Artifact{}, false
	}
	if version != "" {
		return s.Get(name, version)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.latest(name)
}

func newer(a, b Artifact) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.Version > b.Version
}

// List returns every record sorted by name, then newest first.
func (s *Store) List() []Artifact {
	s.mu.RLock()
	out := make([]Artifact, 0, s.idx.len())
	s.idx.each(func(a Artifact) { out = append(out, a) })
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Artifact) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if newer(a, b) {
			return -1
		}
		if newer(b, a) {
			return 1
		}
		return 0
	})
	return out
}

// OpenBlob opens the bytes with the given digest for reading. A replica that lacks them
// fetches them first (Hooks.Fetch), bounded by FetchTimeout.
func (s *Store) OpenBlob(digest string) (*os.File, error) {
	f, err := s.openLocal(digest)
	if err == nil || !errors.Is(err, ErrNotFound) || !validDigest(digest) {
		return f, err
	}
	s.wmu.Lock()
	fetch := s.hooks.Fetch
	s.wmu.Unlock()
	if fetch == nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	if ferr := fetch(ctx, digest); ferr != nil {
		return nil, fmt.Errorf("open blob %s: %w: %w", digest, ErrNotFound, ferr)
	}
	return s.openLocal(digest)
}

// FetchTimeout bounds how long opening a blob waits for it to come from a peer.
const FetchTimeout = 10 * time.Minute

func (s *Store) openLocal(digest string) (*os.File, error) {
	if !validDigest(digest) {
		return nil, fmt.Errorf("open blob: %w", ErrNotFound)
	}
	f, err := s.root.Open(blobPath(digest))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open blob %s: %w", digest, ErrNotFound)
		}
		return nil, fmt.Errorf("open blob %s: %w", digest, err)
	}
	return f, nil
}

// Open opens an artifact's content.
func (s *Store) Open(a Artifact) (*os.File, error) { return s.OpenBlob(a.Digest) }

// OpenSignature opens an artifact's detached signature.
func (s *Store) OpenSignature(a Artifact) (*os.File, error) {
	if !a.Signed() {
		return nil, fmt.Errorf("open signature of %s: %w", a.Ref(), ErrNotFound)
	}
	return s.OpenBlob(a.SignatureDigest)
}
