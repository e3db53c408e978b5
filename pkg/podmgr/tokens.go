package podmgr

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// TokenPrefix starts every management token, so a leaked one is easy to recognise.
const TokenPrefix = "pbt_"

// ValidRole reports whether r is one of the roles.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleOperator, RoleCI, RoleViewer, RoleReplica:
		return true
	}
	return false
}

// HashSecret is how token secrets (management and per-host) are stored: SHA-256, hex.
// The secrets are 256-bit random, so a plain hash is enough; no salt or KDF is needed.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a 256-bit random secret with the given prefix.
func NewSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// TokenSpec is a token to create.
type TokenSpec struct {
	Name string
	Role Role
	// Push is what a ci token may push; empty means the default (stage2, any name).
	Push PushGrant
}

// CreateToken makes a token with the default grants of its role; see IssueToken.
func (m *Manager) CreateToken(ctx context.Context, a Actor, name string, role Role) (string, Token, error) {
	return m.IssueToken(ctx, a, TokenSpec{Name: name, Role: role})
}

// IssueToken makes a token; the secret is returned once and only its hash is kept.
// Names are unique, so the audit log's token:NAME names one token.
func (m *Manager) IssueToken(ctx context.Context, a Actor, spec TokenSpec) (string, Token, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	name, role := spec.Name, spec.Role
	if err := ValidName("token", name); err != nil {
		return "", Token{}, err
	}
	if !ValidRole(role) {
		return "", Token{}, invalidf("role %q: use admin, operator, ci or viewer", role)
	}
	grant, err := checkGrant(role, spec.Push)
	if err != nil {
		return "", Token{}, err
	}
	if old, ok := m.reg.tokenByName(name); ok {
		return "", Token{}, fmt.Errorf("%w: a token named %s exists (id %s, role %s): pick another name, or revoke that one first", ErrConflict, name, old.ID, old.Role)
	}
	secret, err := NewSecret(TokenPrefix)
	if err != nil {
		return "", Token{}, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, fmt.Errorf("read random: %w", err)
	}
	t := Token{ID: hex.EncodeToString(id[:]), Name: name, Role: role, AllowKinds: grant.Kinds, AllowPrefixes: grant.Prefixes,
		Hash: HashSecret(secret), CreatedAt: m.now().UTC()}
	detail := fmt.Sprintf("id=%s name=%s role=%s", t.ID, name, role)
	if role == RoleCI {
		detail += fmt.Sprintf(" kinds=%s prefixes=%s", strings.Join(t.AllowKinds, ","), strings.Join(t.AllowPrefixes, ","))
	}
	err = m.update(ctx, func(tx Tx) error {
		if err := uniqueTokenName(tx, name); err != nil {
			return err
		}
		if err := tx.PutToken(t); err != nil {
			return err
		}
		return m.audit(tx, a, "token.create", "", "", detail)
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("save token %s: %w", name, err)
	}
	t.Hash = ""
	return secret, t, nil
}

// uniqueTokenName refuses a name a stored token has, inside the write transaction, so
// two replicas sharing the store cannot both create it.
func uniqueTokenName(tx Tx, name string) error {
	toks, err := tx.Tokens()
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.Name == name {
			return fmt.Errorf("%w: a token named %s exists (id %s): revoke it first or pick another name", ErrConflict, name, t.ID)
		}
	}
	return nil
}

// Tokens lists tokens without their hashes, oldest first.
func (m *Manager) Tokens() []Token {
	m.reg.mu.RLock()
	out := make([]Token, 0, len(m.reg.tokens))
	for _, t := range m.reg.tokens {
		t.Hash = ""
		out = append(out, t)
	}
	m.reg.mu.RUnlock()
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// RevokeToken deletes a token named by its ID or its name; it stops working at once.
// Revoking the last admin token (nobody could manage podboot any more but through
// offline recovery) or the caller's own token is refused unless force.
func (m *Manager) RevokeToken(ctx context.Context, a Actor, ref string, force bool) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	t, err := m.reg.resolveToken(ref)
	if err != nil {
		return err
	}
	if !force {
		if t.Role == RoleAdmin && m.reg.tokenRoleCount(RoleAdmin) == 1 {
			return fmt.Errorf("%w: token %s (id %s) is the last admin token: create another admin token first, or pass --force (recovery is then only offline: 'podboot token create NAME --role admin --data-dir DIR' on a stopped server)", ErrConflict, t.Name, t.ID)
		}
		if t.ID == a.TokenID {
			return fmt.Errorf("%w: token %s (id %s) is the one making this request: revoking it locks you out; pass --force if you mean it", ErrConflict, t.Name, t.ID)
		}
	}
	err = m.update(ctx, func(tx Tx) error {
		if err := tx.DeleteToken(t.ID); err != nil {
			return err
		}
		return m.audit(tx, a, "token.revoke", "", "", fmt.Sprintf("id=%s name=%s role=%s force=%v", t.ID, t.Name, t.Role, force))
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", t.ID, err)
	}
	return nil
}

// Authenticate returns the token whose secret this is. The secret is hashed first, so the
// map lookup sees only a hash, and the hashes are compared in constant time.
func (m *Manager) Authenticate(secret string) (Token, bool) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, false
	}
	h := HashSecret(secret)
	t, ok := m.reg.tokenByHash(h)
	if !ok || subtle.ConstantTimeCompare([]byte(h), []byte(t.Hash)) != 1 {
		return Token{}, false
	}
	t.Hash = ""
	return t, true
}

// TokenCount is how many management tokens exist.
func (m *Manager) TokenCount() int {
	m.reg.mu.RLock()
	defer m.reg.mu.RUnlock()
	return len(m.reg.tokens)
}

// Token lookups scan: there are a handful of tokens, and only the API's token routes
// look them up by name.

func (r *Registry) tokenByName(name string) (Token, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, t := range r.tokens {
		if t.Name == name {
			return t, true
		}
	}
	return Token{}, false
}

// resolveToken finds the token ref names, by ID or by name. A ref that is one token's
// ID and another's name, or the name of several tokens (stored before names were
// unique), is refused as ambiguous.
func (r *Registry) resolveToken(ref string) (Token, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var byID, byName []Token
	for _, t := range r.tokens {
		if t.ID == ref {
			byID = append(byID, t)
		}
		if t.Name == ref {
			byName = append(byName, t)
		}
	}
	switch {
	case len(byID)+len(byName) == 0:
		return Token{}, fmt.Errorf("%w: no token has the ID or name %q: see 'podboot token list'", ErrNotFound, clipValue(ref))
	case len(byID) == 1 && (len(byName) == 0 || byName[0].ID == ref):
		return byID[0], nil
	case len(byID) == 0 && len(byName) == 1:
		return byName[0], nil
	}
	return Token{}, fmt.Errorf("%w: %q names more than one token: revoke by ID (see 'podboot token list')", ErrConflict, clipValue(ref))
}

func (r *Registry) tokenRoleCount(role Role) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, t := range r.tokens {
		if t.Role == role {
			n++
		}
	}
	return n
}
