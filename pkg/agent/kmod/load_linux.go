package kmod

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Scan reads the .modinfo of every .ko file under dir, keyed by module name.
func Scan(dir string) (map[string]Info, map[string]string, error) {
	infos := map[string]Info{}
	paths := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(p, ".ko") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := ReadInfo(f)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if info.Name == "" {
			info.Name = Canonical(p)
		}
		infos[info.Name] = info
		paths[info.Name] = p
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scan modules in %s: %w", dir, err)
	}
	return infos, paths, nil
}

// LoadAll loads every module under dir in dependency order with finit_module. A module
// that is already loaded (built in, or loaded before) is not an error. It returns the
// names loaded, in order.
func LoadAll(dir string) ([]string, error) {
	infos, paths, err := Scan(dir)
	if err != nil {
		return nil, err
	}
	order, err := Order(infos)
	if err != nil {
		return nil, fmt.Errorf("order modules: %w", err)
	}
	var loaded []string
	for _, n := range order {
		if err := finitModule(paths[n], false); err != nil {
			return loaded, fmt.Errorf("load module %s: %w", n, err)
		}
		loaded = append(loaded, n)
	}
	return loaded, nil
}

// finitModule loads one module file (see FinitFunc for noWait).
func finitModule(path string, noWait bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	params := ""
	if noWait {
		params = "async_probe"
	}
	err = unix.FinitModule(int(f.Fd()), params, 0)
	if err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
