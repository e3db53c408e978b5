package artifact

import "fmt"

// CheckKind refuses a new version of name with another kind than the name has: a
// bare-name reference serves the newest version, so a new kind under an old name would
// turn, say, what every PXE ROM loads as undionly.kpxe into whatever was pushed. A new
// name may have any kind. The error wraps ErrConflict.
func (s *Store) CheckKind(name string, kind Kind) error {
	s.mu.RLock()
	cur, ok := s.idx.latest(name)
	s.mu.RUnlock()
	if ok && cur.Kind != kind {
		return fmt.Errorf("%w: %s is a %s (newest version %s): a version of another kind (%s) may not join it; use another name", ErrConflict, name, cur.Kind, cur.Version, kind)
	}
	return nil
}

// Versions is how many versions of name the store holds.
func (s *Store) Versions(name string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := s.idx.byName[name]; ok {
		return len(v.byVersion)
	}
	return 0
}
