package stage1

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// FirmwareDir is where the kernel looks for firmware files without udev.
const FirmwareDir = "lib/firmware"

// firmwareRoots are the firmware directories of unpacked firmware-* packages
// (Debian 13's install under usr/lib/firmware).
type firmwareRoots []string

// addPackage records an unpacked package's firmware directories.
func (r *firmwareRoots) addPackage(root string) {
	for _, d := range []string{"lib/firmware", "usr/lib/firmware"} {
		if st, err := os.Stat(filepath.Join(root, d)); err == nil && st.IsDir() {
			*r = append(*r, filepath.Join(root, d))
		}
	}
}

// find returns the contents of a firmware file (a name as modinfo firmware= gives it,
// e.g. intel/ice/ddp/ice.pkg), following symlinks inside the package: an absolute
// link means /lib/firmware of the package, never of the build host.
func (r firmwareRoots) find(name string) ([]byte, bool) {
	name = path.Clean(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(name, "..") {
		return nil, false
	}
	for _, root := range r {
		if b, ok := readInRoot(root, name, 0); ok {
			return b, true
		}
	}
	return nil, false
}

func readInRoot(root, name string, depth int) ([]byte, bool) {
	if depth > 8 {
		return nil, false
	}
	p := filepath.Join(root, filepath.FromSlash(name))
	st, err := os.Lstat(p)
	if err != nil {
		return nil, false
	}
	if st.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return nil, false
		}
		var next string
		if strings.HasPrefix(target, "/") {
			_, rest, ok := strings.Cut(target, "/lib/firmware/")
			if !ok {
				return nil, false
			}
			next = rest
		} else {
			next = path.Join(path.Dir(name), target)
		}
		next = path.Clean(next)
		if strings.HasPrefix(next, "..") {
			return nil, false
		}
		return readInRoot(root, next, depth+1)
	}
	if !st.Mode().IsRegular() {
		return nil, false
	}
	b, err := os.ReadFile(p)
	return b, err == nil
}

// firmwareNote says which modules will lack firmware.
func firmwareNote(module string, missing []string, haveDebs bool) string {
	hint := "give --firmware-deb with Debian's firmware package for it (non-free-firmware: firmware-misc-nonfree, firmware-intel-misc, firmware-qlogic, firmware-realtek)"
	if haveDebs {
		hint = "not in the --firmware-deb packages given"
	}
	list := strings.Join(missing, ", ")
	if len(missing) > 3 {
		list = fmt.Sprintf("%s and %d more", strings.Join(missing[:3], ", "), len(missing)-3)
	}
	return fmt.Sprintf("module %s will lack firmware %s: %s", module, list, hint)
}
