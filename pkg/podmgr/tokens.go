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

// ValidRole reports whether r is one of the four roles.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleOperator, RoleCI, RoleViewer:
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

// CreateToken makes a token; the secret is returned once and only its hash is kept.
func (m *Manager) CreateToken(ctx context.Context, a Actor, name string, role Role) (string, Token, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if err := ValidName("token", name); err != nil {
		return "", Token{}, err
	}
	if !ValidRole(role) {
		return "", Token{}, invalidf("role %q: use admin, operator, ci or viewer", role)
	}
	secret, err := NewSecret(TokenPrefix)
	if err != nil {
		return "", Token{}, err
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, fmt.Errorf("read random: %w", err)
	}
	t := Token{ID: hex.EncodeToString(id[:]), Name: name, Role: role, Hash: HashSecret(secret), CreatedAt: m.now().UTC()}
	err = m.store.Update(ctx, func(tx Tx) error {
		if err := uniqueTokenName(tx, name); err != nil {
			return err
		}
		if err := tx.PutToken(t); err != nil {
			return err
		}
		return m.audit(tx, a, "token.create", "", "", fmt.Sprintf("id=%s name=%s role=%s", t.ID, name, role))
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("save token %s: %w", name, err)
	}
	m.reg.putToken(t)
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

// RevokeToken deletes a token by ID; it stops working at once.
func (m *Manager) RevokeToken(ctx context.Context, a Actor, id string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	var hash string
	m.reg.mu.RLock()
	for h, t := range m.reg.tokens {
		if t.ID == id {
			hash = h
		}
	}
	m.reg.mu.RUnlock()
	if hash == "" {
		return fmt.Errorf("%w: token %s", ErrNotFound, id)
	}
	err := m.store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteToken(id); err != nil {
			return err
		}
		return m.audit(tx, a, "token.revoke", "", "", "id="+id)
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	m.reg.deleteToken(hash)
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
