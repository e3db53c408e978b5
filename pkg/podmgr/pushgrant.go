package podmgr

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// PushKinds returns the artifact kinds a ci token may be granted: the artifact store's
// kinds (a test in pkg/imagepush keeps the two lists equal).
func PushKinds() []string { return []string{"bootloader", "kernel", "initrd", "stage2", "package"} }

// defaultCIKind is what a ci token may push when its creator granted nothing more:
// signed OS images. Bootloaders, kernels and initrds are what every PXE ROM and stage1
// runs, so they stay the admin's unless granted.
const defaultCIKind = "stage2"

var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// PushGrant limits what a ci token pushes: artifact kinds, and optionally names that
// start with one of Prefixes (none: any name).
type PushGrant struct {
	Kinds    []string
	Prefixes []string
}

// Actor returns who a token acts as, from addr.
func (t Token) Actor(source string) Actor {
	a := Actor{Name: "token:" + t.Name, Role: t.Role, Source: source, TokenID: t.ID}
	if t.Role == RoleCI {
		a.Push = PushGrant{Kinds: t.AllowKinds, Prefixes: t.AllowPrefixes}
		if len(a.Push.Kinds) == 0 { // a ci token stored before grants existed
			a.Push.Kinds = []string{defaultCIKind}
		}
	}
	return a
}

// MayPush says whether a may push an artifact of kind under name: an admin may push
// anything, a ci token what it was granted, no other role anything.
func (a Actor) MayPush(kind, name string) error {
	switch {
	case a.Role == RoleAdmin:
		return nil
	case a.Role != RoleCI:
		return fmt.Errorf("%s has role %s, which may not push images", a.Name, a.Role)
	case !slices.Contains(a.Push.Kinds, kind):
		return fmt.Errorf("%s may push kinds %s, not %s: an admin grants more with 'podboot token create NAME --role ci --allow-kind %s'", a.Name, strings.Join(a.Push.Kinds, ","), kind, kind)
	case len(a.Push.Prefixes) > 0 && !slices.ContainsFunc(a.Push.Prefixes, func(p string) bool { return strings.HasPrefix(name, p) }):
		return fmt.Errorf("%s may push names starting with %s, not %s", a.Name, strings.Join(a.Push.Prefixes, " or "), name)
	}
	return nil
}

// checkGrant validates and normalises a new token's grants: only a ci token has them,
// and a ci token given none gets the default.
func checkGrant(role Role, g PushGrant) (PushGrant, error) {
	if role != RoleCI {
		if len(g.Kinds)+len(g.Prefixes) > 0 {
			return g, invalidf("only a ci token takes --allow-kind and --allow-prefix (an admin pushes anything, other roles nothing)")
		}
		return PushGrant{}, nil
	}
	var out PushGrant
	for _, k := range g.Kinds {
		if !slices.Contains(PushKinds(), k) {
			return g, invalidf("allowed kind %q: use %s", k, strings.Join(PushKinds(), ", "))
		}
		if !slices.Contains(out.Kinds, k) {
			out.Kinds = append(out.Kinds, k)
		}
	}
	if len(out.Kinds) == 0 {
		out.Kinds = []string{defaultCIKind}
	}
	for _, p := range g.Prefixes {
		if !prefixRE.MatchString(p) {
			return g, invalidf("allowed prefix %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", p)
		}
		if !slices.Contains(out.Prefixes, p) {
			out.Prefixes = append(out.Prefixes, p)
		}
	}
	return out, nil
}
