package stage1

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// entry is one member of the initrd.
type entry struct {
	name  string // without leading slash
	mode  uint32 // type and permission bits
	data  []byte
	major uint32 // rdev of device nodes
	minor uint32
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChr  = 0o020000
	modeLink = 0o120000
)

// archive collects entries and writes them as a newc cpio. Every header field that
// could vary between runs (mtime, uid, gid, inode, order) is fixed, so the same entries
// always give the same bytes.
type archive struct {
	entries map[string]entry
}

func newArchive() *archive { return &archive{entries: map[string]entry{}} }

// dir adds a directory and its parents.
func (a *archive) dir(name string, perm uint32) {
	name = strings.Trim(name, "/")
	if name == "" || name == "." {
		return
	}
	a.dir(path.Dir(name), 0o755)
	if _, ok := a.entries[name]; !ok {
		a.entries[name] = entry{name: name, mode: modeDir | perm}
	}
}

// file adds a regular file (and its parent directories).
func (a *archive) file(name string, perm uint32, data []byte) {
	name = strings.Trim(name, "/")
	a.dir(path.Dir(name), 0o755)
	a.entries[name] = entry{name: name, mode: modeFile | perm, data: data}
}

// chr adds a character device node.
func (a *archive) chr(name string, perm, major, minor uint32) {
	name = strings.Trim(name, "/")
	a.dir(path.Dir(name), 0o755)
	a.entries[name] = entry{name: name, mode: modeChr | perm, major: major, minor: minor}
}

// symlink adds a symbolic link to target.
func (a *archive) symlink(name, target string) {
	name = strings.Trim(name, "/")
	a.dir(path.Dir(name), 0o755)
	a.entries[name] = entry{name: name, mode: modeLink | 0o777, data: []byte(target)}
}

// writeTo writes the newc archive: entries sorted by name (so parents come before
// children), inodes numbered in that order, mtime 0, owner root.
func (a *archive) writeTo(w io.Writer) error {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	cw := &countWriter{w: w}
	for i, n := range names {
		if err := writeEntry(cw, uint32(i+1), a.entries[n]); err != nil {
			return fmt.Errorf("write cpio entry %s: %w", n, err)
		}
	}
	if err := writeEntry(cw, 0, entry{name: "TRAILER!!!"}); err != nil {
		return fmt.Errorf("write cpio trailer: %w", err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}

func writeEntry(cw *countWriter, ino uint32, e entry) error {
	nlink := uint32(1)
	if e.mode&modeDir == modeDir && e.mode&modeFile == 0 {
		nlink = 2
	}
	if e.name == "TRAILER!!!" {
		nlink = 1
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.major, e.minor, len(e.name)+1, 0)
	if _, err := io.WriteString(cw, hdr); err != nil {
		return err
	}
	if _, err := io.WriteString(cw, e.name+"\x00"); err != nil {
		return err
	}
	if err := cw.pad(); err != nil {
		return err
	}
	if _, err := cw.Write(e.data); err != nil {
		return err
	}
	return cw.pad()
}
