// Package kmod reads Linux kernel modules' .modinfo sections, orders a module set by its
// depends= lines, and loads drivers by modalias as modprobe would.
//
// It exists because the stage1 initrd ships a handful of .ko files and no modules.dep:
// the builder (pkg/stage1) uses it to pull in the dependencies of the modules it is asked
// for and to write the alias table, and the agent uses the table at boot to load what
// the hardware needs. Reading .modinfo with debug/elf is all either needs; no depmod,
// no kmod tools.
package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Info is what a module's .modinfo says about it.
type Info struct {
	// Name is the module name with '-' folded to '_' (the kernel's spelling).
	Name string
	// Depends are the names of the modules that must be loaded first.
	Depends []string
	// Aliases are the modalias patterns the module binds (fnmatch globs).
	Aliases []string
	// SoftPre and SoftPost are the softdep= modules to load before and after it
	// (e.g. r8169's PHY driver realtek): optional, so a missing one is no error.
	SoftPre, SoftPost []string
	// Firmware are the files (under /lib/firmware) the module may request.
	Firmware []string
}

// Canonical folds a module or file name to the kernel's module name: no directory,
// no .ko suffix, '-' as '_'.
func Canonical(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.Index(name, ".ko"); i > 0 {
		name = name[:i]
	}
	return strings.ReplaceAll(name, "-", "_")
}

// ReadInfo parses the .modinfo section of an ELF kernel module.
func ReadInfo(r io.ReaderAt) (Info, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return Info{}, fmt.Errorf("read module ELF: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Info{}, fmt.Errorf("read module ELF: no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return Info{}, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModinfo(data), nil
}

func parseModinfo(data []byte) Info {
	var info Info
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			info.Name = Canonical(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					info.Depends = append(info.Depends, Canonical(d))
				}
			}
		case "alias":
			if v != "" {
				info.Aliases = append(info.Aliases, v)
			}
		case "softdep":
			pre, post := parseSoftdep(v)
			info.SoftPre = append(info.SoftPre, pre...)
			info.SoftPost = append(info.SoftPost, post...)
		case "firmware":
			if v != "" {
				info.Firmware = append(info.Firmware, v)
			}
		}
	}
	return info
}

// parseSoftdep reads "pre: a b post: c" (either part optional).
func parseSoftdep(v string) (pre, post []string) {
	var cur *[]string
	for _, f := range strings.Fields(v) {
		switch f {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, Canonical(f))
			}
		}
	}
	return pre, post
}

// Closure returns the names in want plus everything they depend on (and the soft
// dependencies infos has), as known by infos. Names of want missing from infos are returned in missing; a missing
// dependency of a present module is an error, since that module could not load.
func Closure(infos map[string]Info, want []string) (names []string, missing []string, err error) {
	seen := map[string]bool{}
	var visit func(n, from string) error
	visit = func(n, from string) error {
		if seen[n] {
			return nil
		}
		info, ok := infos[n]
		if !ok {
			if from == "" {
				missing = append(missing, n)
				return nil
			}
			return fmt.Errorf("module %s needs %s, which is not in the module set", from, n)
		}
		seen[n] = true
		for _, d := range info.Depends {
			if err := visit(d, n); err != nil {
				return err
			}
		}
		// Soft dependencies are optional: taken when the kernel has them.
		for _, d := range slices.Concat(info.SoftPre, info.SoftPost) {
			if _, ok := infos[d]; ok {
				if err := visit(d, n); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, w := range want {
		if err := visit(Canonical(w), ""); err != nil {
			return nil, nil, err
		}
	}
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, missing, nil
}

// Order sorts a module set so that every module comes after its dependencies. Ties
// are broken by name so that the order is the same on every run. A dependency cycle
// or a dependency outside the set is an error.
func Order(infos map[string]Info) ([]string, error) {
	names := make([]string, 0, len(infos))
	for n := range infos {
		names = append(names, n)
	}
	slices.Sort(names)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	out := make([]string, 0, len(names))
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle through %s", n)
		}
		info, ok := infos[n]
		if !ok {
			return fmt.Errorf("module %s is needed but not present", n)
		}
		state[n] = visiting
		deps := slices.Clone(info.Depends)
		slices.Sort(deps)
		for _, d := range deps {
			if err := visit(d); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
		state[n] = done
		out = append(out, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}
