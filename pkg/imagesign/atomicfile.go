package imagesign

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileAtomic writes data to name so that readers see either the old file
// or the complete new one, never a torn write: a temporary file in the same
// directory is written, chmod'ed, fsync'ed and renamed over name, and the
// directory is fsync'ed so that the rename survives a crash.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod makes perm exact regardless of umask.
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err = os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("renaming into %s: %w", name, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// fileExists reports whether name exists (any error other than "not exist"
// counts as existing, so that callers refuse rather than overwrite).
func fileExists(name string) bool {
	_, err := os.Lstat(name)
	return !os.IsNotExist(err)
}
