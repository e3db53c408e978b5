package artifact

// index holds the records in memory: each name's versions and, kept up to date on every
// add and removal, its newest version, so resolving a bare name is two map lookups
// instead of a scan of every record. It is not safe for concurrent use: Store.mu guards it.
type index struct {
	byName map[string]*versions
	n      int
}

// versions are one name's records by version, and the newest of them.
type versions struct {
	byVersion map[string]Artifact
	newest    Artifact
}

func newIndex() *index { return &index{byName: map[string]*versions{}} }

func (x *index) get(name, version string) (Artifact, bool) {
	v, ok := x.byName[name]
	if !ok {
		return Artifact{}, false
	}
	a, ok := v.byVersion[version]
	return a, ok
}

// latest is the newest version of name: latest CreatedAt, then the greatest version.
func (x *index) latest(name string) (Artifact, bool) {
	v, ok := x.byName[name]
	if !ok {
		return Artifact{}, false
	}
	return v.newest, true
}

// add stores a record, replacing one with the same name and version.
func (x *index) add(a Artifact) {
	v, ok := x.byName[a.Name]
	if !ok {
		v = &versions{byVersion: map[string]Artifact{}}
		x.byName[a.Name] = v
	}
	_, replaced := v.byVersion[a.Version]
	v.byVersion[a.Version] = a
	switch {
	case !replaced:
		x.n++
		if len(v.byVersion) == 1 || newer(a, v.newest) {
			v.newest = a
		}
	case a.Version == v.newest.Version || newer(a, v.newest):
		v.newest = v.pickNewest() // the replaced record may have been the newest
	}
}

// remove drops the record of name@version; when it was the newest, the next newest of
// that name takes its place.
func (x *index) remove(name, version string) {
	v, ok := x.byName[name]
	if !ok {
		return
	}
	if _, ok := v.byVersion[version]; !ok {
		return
	}
	delete(v.byVersion, version)
	x.n--
	if len(v.byVersion) == 0 {
		delete(x.byName, name)
		return
	}
	if v.newest.Version == version {
		v.newest = v.pickNewest()
	}
}

func (v *versions) pickNewest() Artifact {
	var best Artifact
	found := false
	for _, a := range v.byVersion {
		if !found || newer(a, best) {
			best, found = a, true
		}
	}
	return best
}

// each calls fn for every record, in no particular order.
func (x *index) each(fn func(Artifact)) {
	for _, v := range x.byName {
		for _, a := range v.byVersion {
			fn(a)
		}
	}
}

func (x *index) len() int { return x.n }
