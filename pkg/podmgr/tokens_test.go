package podmgr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestTokenNamesAndRevoke: names are unique; revoke takes a name or an ID; the last
// admin token and the caller's own token go only with force (issue 10).
func TestTokenNamesAndRevoke(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	_, root, err := m.CreateToken(ctx, admin, "root", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.CreateToken(ctx, admin, "root", RoleViewer); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "a token named root exists") {
		t.Fatalf("duplicate name: %v", err)
	}
	_, root2, err := m.CreateToken(ctx, admin, "root2", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	_, ci, err := m.CreateToken(ctx, admin, "ci", RoleCI)
	if err != nil {
		t.Fatal(err)
	}
	rootActor := Token{ID: root.ID, Name: "root", Role: RoleAdmin}.Actor("test")
	steps := []struct {
		name  string
		ref   string
		as    Actor
		force bool
		want  string // "" for success
	}{
		{"unknown", "nope", admin, false, "no token has the ID or name"},
		{"own token", "root", rootActor, false, "the one making this request"},
		{"ci by name", "ci", rootActor, false, ""},
		{"ci again by ID", ci.ID, rootActor, false, "no token has the ID or name"},
		{"another admin by ID", root2.ID, rootActor, false, ""},
		{"last admin", "root", admin, false, "the last admin token"},
		{"last admin, own, with force", "root", rootActor, true, ""},
	}
	for _, s := range steps {
		err := m.RevokeToken(ctx, s.as, s.ref, s.force)
		if s.want == "" {
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), s.want) {
			t.Fatalf("%s: err %v; want one saying %q", s.name, err, s.want)
		}
	}
	if m.TokenCount() != 0 {
		t.Fatalf("%d tokens left", m.TokenCount())
	}
}

// TestCITokenGrants: a ci token pushes stage2 only unless granted more; grants are
// stored on the record; other roles take no grants.
func TestCITokenGrants(t *testing.T) {
	m, path := newTestManager(t)
	ctx := context.Background()
	mk := func(name string, role Role, g PushGrant) (Token, error) {
		secret, _, err := m.IssueToken(ctx, admin, TokenSpec{Name: name, Role: role, Push: g})
		if err != nil {
			return Token{}, err
		}
		tok, _ := m.Authenticate(secret)
		return tok, nil
	}
	def, err := mk("ci-default", RoleCI, PushGrant{})
	if err != nil {
		t.Fatal(err)
	}
	wide, err := mk("ci-wide", RoleCI, PushGrant{Kinds: []string{"stage2", "package", "package"}, Prefixes: []string{"os-"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(def.AllowKinds, []string{"stage2"}) || !slices.Equal(wide.AllowKinds, []string{"stage2", "package"}) || !slices.Equal(wide.AllowPrefixes, []string{"os-"}) {
		t.Fatalf("grants stored: %+v %+v", def, wide)
	}
	for _, bad := range []struct {
		role Role
		g    PushGrant
		want string
	}{
		{RoleCI, PushGrant{Kinds: []string{"rootkit"}}, `allowed kind "rootkit"`},
		{RoleCI, PushGrant{Prefixes: []string{"../"}}, `allowed prefix "../"`},
		{RoleOperator, PushGrant{Kinds: []string{"stage2"}}, "only a ci token"},
		{RoleAdmin, PushGrant{Prefixes: []string{"os-"}}, "only a ci token"},
	} {
		if _, err := mk("bad", bad.role, bad.g); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	old := Token{ID: "0", Name: "old-ci", Role: RoleCI} // stored before grants existed
	cases := []struct {
		who        Actor
		kind, name string
		ok         bool
	}{
		{def.Actor(""), "stage2", "anything", true},
		{def.Actor(""), "bootloader", "undionly.kpxe", false},
		{def.Actor(""), "kernel", "vmlinuz", false},
		{def.Actor(""), "initrd", "initrd.img", false},
		{def.Actor(""), "package", "pkg", false},
		{wide.Actor(""), "package", "os-tools", true},
		{wide.Actor(""), "stage2", "os-rocky", true},
		{wide.Actor(""), "stage2", "rocky", false},
		{wide.Actor(""), "bootloader", "os-ipxe", false},
		{old.Actor(""), "stage2", "x", true},
		{old.Actor(""), "bootloader", "x", false},
		{admin, "bootloader", "undionly.kpxe", true},
		{Actor{Role: RoleOperator}, "stage2", "x", false},
	}
	for _, c := range cases {
		if err := c.who.MayPush(c.kind, c.name); (err == nil) != c.ok {
			t.Errorf("%s pushes %s %s: %v; want allowed=%v", c.who.Name, c.kind, c.name, err, c.ok)
		}
	}
	// Grants survive a restart.
	m.Store().Close()
	m2 := openTestManager(t, path)
	for _, tok := range m2.Tokens() {
		if tok.Name == "ci-wide" && !slices.Equal(tok.AllowPrefixes, []string{"os-"}) {
			t.Fatalf("reloaded %+v", tok)
		}
	}
}

// TestRevokeAmbiguousName: two tokens stored with one name (before names were unique)
// are revoked by ID only; the name alone is refused as ambiguous.
func TestRevokeAmbiguousName(t *testing.T) {
	m, path := newTestManager(t)
	ctx := context.Background()
	if _, _, err := m.CreateToken(ctx, admin, "root", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	err := m.Store().Update(ctx, func(tx Tx) error {
		for _, id := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"} {
			if err := tx.PutToken(Token{ID: id, Name: "ci", Role: RoleCI, Hash: HashSecret(id)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Store().Close()
	m = openTestManager(t, path)
	if err := m.RevokeToken(ctx, admin, "ci", false); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "revoke by ID") {
		t.Fatalf("ambiguous name: %v", err)
	}
	if err := m.RevokeToken(ctx, admin, "aaaaaaaaaaaa", false); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeToken(ctx, admin, "ci", false); err != nil {
		t.Fatalf("the name is unique again: %v", err)
	}
}
