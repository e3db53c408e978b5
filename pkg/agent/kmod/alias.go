package kmod

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Table is what the agent needs to load drivers by hardware: the modalias patterns
// of the shipped modules, their dependencies and soft dependencies. The stage1 builder
// writes it as modules.alias, modules.dep and modules.softdep (kmod's text formats)
// because the kernel package ships none of them.
type Table struct {
	aliases []aliasEntry
	// byPrefix indexes aliases by their literal prefix (up to the first wildcard), and
	// prefixLens are those prefixes' lengths, ascending: a pattern can only match a
	// modalias that starts with its prefix, so Match tries a handful of patterns
	// instead of all (about 1300 for the default set; under QEMU TCG the full scan of
	// a boot's 50 devices cost 50-500 ms before the first driver could load).
	byPrefix   map[string][]int
	prefixLens []int
	// Deps, SoftPre and SoftPost are keyed by module name.
	Deps, SoftPre, SoftPost map[string][]string
}

type aliasEntry struct {
	pattern string // normalised
	module  string
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{Deps: map[string][]string{}, SoftPre: map[string][]string{}, SoftPost: map[string][]string{}}
}

// Add records a module and what its .modinfo says.
func (t *Table) Add(info Info) {
	t.Deps[info.Name] = slices.Clone(info.Depends)
	if len(info.SoftPre) > 0 {
		t.SoftPre[info.Name] = slices.Clone(info.SoftPre)
	}
	if len(info.SoftPost) > 0 {
		t.SoftPost[info.Name] = slices.Clone(info.SoftPost)
	}
	for _, a := range info.Aliases {
		t.addAlias(a, info.Name)
	}
}

// AddSoftPre adds pre: soft dependencies (modules or aliases) to a module of the
// table, as a modprobe.d "softdep NAME pre: ..." line does.
func (t *Table) AddSoftPre(name string, pre ...string) {
	n := Canonical(name)
	for _, p := range pre {
		if !slices.Contains(t.SoftPre[n], p) {
			t.SoftPre[n] = append(t.SoftPre[n], p)
		}
	}
}

// Has reports whether the table knows the module.
func (t *Table) Has(name string) bool {
	_, ok := t.Deps[Canonical(name)]
	return ok
}

// addAlias appends an alias pattern of module and indexes it.
func (t *Table) addAlias(pattern, module string) {
	p := Normalize(pattern)
	t.aliases = append(t.aliases, aliasEntry{pattern: p, module: module})
	lit := p
	if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
		lit = p[:i]
	}
	if t.byPrefix == nil {
		t.byPrefix = map[string][]int{}
	}
	t.byPrefix[lit] = append(t.byPrefix[lit], len(t.aliases)-1)
	if i, found := slices.BinarySearch(t.prefixLens, len(lit)); !found {
		t.prefixLens = slices.Insert(t.prefixLens, i, len(lit))
	}
}

// Match returns every module whose alias matches modalias (a device needs all of
// them, as with modprobe), in table order without repeats.
func (t *Table) Match(modalias string) []string {
	m := Normalize(modalias)
	var cand []int
	for _, n := range t.prefixLens {
		if n > len(m) {
			break
		}
		cand = append(cand, t.byPrefix[m[:n]]...)
	}
	slices.Sort(cand)
	var out []string
	for _, i := range cand {
		a := t.aliases[i]
		if !slices.Contains(out, a.module) && Fnmatch(a.pattern, m) {
			out = append(out, a.module)
		}
	}
	return out
}

// Normalize folds '-' to '_' outside [...] brackets, as kmod does on both the
// pattern and the modalias before matching.
func Normalize(s string) string {
	b := []byte(s)
	in := false
	for i, c := range b {
		switch {
		case c == '[':
			in = true
		case c == ']':
			in = false
		case c == '-' && !in:
			b[i] = '_'
		}
	}
	return string(b)
}

// Fnmatch is fnmatch(3) with flags 0: '*', '?', '[...]' (with '!' or '^' negation and
// ranges) and backslash escapes; '/' is not special.
func Fnmatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if Fnmatch(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '[':
			if s == "" {
				return false
			}
			ok, rest, valid := matchClass(pattern, s[0])
			if !valid { // an unterminated '[' is a literal
				if s[0] != '[' {
					return false
				}
				pattern, s = pattern[1:], s[1:]
				continue
			}
			if !ok {
				return false
			}
			pattern, s = rest, s[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}

// matchClass matches c against the bracket expression at the start of pattern and
// returns the pattern after it; valid is false when the bracket is not closed.
func matchClass(pattern string, c byte) (ok bool, rest string, valid bool) {
	i := 1
	neg := false
	if i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^') {
		neg, i = true, i+1
	}
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != neg, pattern[i+1:], true
		}
		first = false
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, "", false
}

// WriteAlias writes the table's aliases in modules.alias format.
func (t *Table) WriteAlias(w io.Writer) error {
	for _, a := range t.aliases {
		if _, err := fmt.Fprintf(w, "alias %s %s\n", a.pattern, a.module); err != nil {
			return err
		}
	}
	return nil
}

// WriteDep writes modules.dep with flat NAME.ko paths (as the initrd stores them).
func (t *Table) WriteDep(w io.Writer) error {
	for _, n := range sortedKeys(t.Deps) {
		var deps []string
		for _, d := range t.Deps[n] {
			deps = append(deps, d+".ko")
		}
		if _, err := fmt.Fprintf(w, "%s.ko:%s\n", n, prefixed(deps)); err != nil {
			return err
		}
	}
	return nil
}

// WriteSoftdep writes modules.softdep ("softdep NAME pre: A post: B").
func (t *Table) WriteSoftdep(w io.Writer) error {
	names := slices.Concat(sortedKeys(t.SoftPre), sortedKeys(t.SoftPost))
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		line := "softdep " + n
		if p := t.SoftPre[n]; len(p) > 0 {
			line += " pre:" + prefixed(p)
		}
		if p := t.SoftPost[n]; len(p) > 0 {
			line += " post:" + prefixed(p)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

func prefixed(words []string) string {
	var b strings.Builder
	for _, w := range words {
		b.WriteString(" " + w)
	}
	return b.String()
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ReadTable parses modules.alias, modules.dep and modules.softdep as WriteAlias,
// WriteDep and WriteSoftdep write them (and as depmod does, for the lines it needs).
func ReadTable(alias, dep, softdep io.Reader) (*Table, error) {
	t := NewTable()
	err := eachLine(dep, func(l string) error {
		name, rest, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("modules.dep line %q: no ':'", l)
		}
		var deps []string
		for _, d := range strings.Fields(rest) {
			deps = append(deps, Canonical(d))
		}
		t.Deps[Canonical(name)] = deps
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(alias, func(l string) error {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("modules.alias line %q: want alias PATTERN MODULE", l)
		}
		t.addAlias(f[1], Canonical(f[2]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if softdep == nil {
		return t, nil
	}
	err = eachLine(softdep, func(l string) error {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("modules.softdep line %q: want softdep MODULE pre: ... post: ...", l)
		}
		pre, post := parseSoftdep(strings.Join(f[2:], " "))
		n := Canonical(f[1])
		t.SoftPre[n], t.SoftPost[n] = pre, post
		return nil
	})
	return t, err
}

func eachLine(r io.Reader, fn func(string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return sc.Err()
}

// checkCycles refuses a table in which a module must load before itself: through its
// dependencies or its pre: soft dependencies (which may be aliases).
func (t *Table) checkCycles() error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var visit func(m string) error
	visit = func(m string) error {
		switch state[m] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle through %s", m)
		}
		state[m] = visiting
		next := slices.Clone(t.Deps[m])
		for _, s := range t.SoftPre[m] {
			if t.Has(s) {
				next = append(next, Canonical(s))
			} else {
				next = append(next, t.Match(s)...)
			}
		}
		for _, n := range next {
			if err := visit(n); err != nil {
				return err
			}
		}
		state[m] = done
		return nil
	}
	for _, m := range slices.Concat(sortedKeys(t.Deps), sortedKeys(t.SoftPre)) {
		if err := visit(m); err != nil {
			return err
		}
	}
	return nil
}
