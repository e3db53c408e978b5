package pushtest

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
)

// Snapshot lists every file and directory under dir with its size and mode, sorted:
// two equal snapshots mean nothing was added, removed or resized, temporary files
// included.
func Snapshot(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		size := fi.Size()
		if d.IsDir() {
			size = 0 // directory sizes vary with past entries, not with content
		}
		out = append(out, fmt.Sprintf("%s %v %d", rel, fi.Mode(), size))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
