// Package cred seals BMC passwords at rest. The store keeps only AES-256-GCM
// ciphertext bound to the host's MAC (a sealed password copied onto another host's
// record does not open); the key lives in a file beside the store (DATA_DIR/bmc.key,
// mode 0600) or in a file the operator names, so a copy of the database alone reveals
// no password. Only `podboot serve` opens sealed passwords, to talk to a BMC.
package cred

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultKeyFile is the key's name in the data dir.
const DefaultKeyFile = "bmc.key"

const sealVersion = 1

// ErrWrongKey says a sealed password was made with a key this keyring does not hold.
var ErrWrongKey = errors.New("sealed with a key this server does not hold")

// Keyring seals with its current key and opens with any key it holds (the current one
// and, during a rotation that was interrupted, the next one).
type Keyring struct {
	cur  key
	more []key
}

type key struct {
	id   [8]byte
	aead cipher.AEAD
}

func newKey(raw []byte) (key, error) {
	if len(raw) != 32 {
		return key{}, fmt.Errorf("bmc key must be 32 bytes, got %d", len(raw))
	}
	blk, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return key{}, err
	}
	var k key
	sum := sha256.Sum256(raw)
	copy(k.id[:], sum[:8])
	k.aead = aead
	return k, nil
}

// Load reads the key file at path, creating it (0600, 32 random bytes as hex) when
// create is true and it does not exist. A "PATH.next" left by an interrupted rotation
// is also read, so records already re-sealed with it still open.
func Load(path string, create bool) (*Keyring, error) {
	raw, err := readKey(path)
	if errors.Is(err, os.ErrNotExist) && create {
		if raw, err = NewKeyFile(path); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	cur, err := newKey(raw)
	if err != nil {
		return nil, fmt.Errorf("bmc key %s: %w", path, err)
	}
	kr := &Keyring{cur: cur}
	if next, err := readKey(path + ".next"); err == nil {
		if k, err := newKey(next); err == nil {
			kr.more = append(kr.more, k)
		}
	}
	return kr, nil
}

func readKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("bmc key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("bmc key %s: mode %v lets others read it: chmod 600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bmc key %s: %w", path, err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("bmc key %s: not hex: %w", path, err)
	}
	return raw, nil
}

// NewKeyFile writes a fresh random key to path (0600, atomically) and returns it.
func NewKeyFile(path string) ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bmc-key-*")
	if err != nil {
		return nil, fmt.Errorf("write bmc key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write bmc key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("write bmc key %s: %w", path, err)
	}
	return raw, nil
}

// Seal encrypts a password for the host mac.
func (kr *Keyring) Seal(mac string, password []byte) ([]byte, error) {
	nonce := make([]byte, kr.cur.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, kr.cur.id[:]...)
	out = append(out, nonce...)
	return kr.cur.aead.Seal(out, nonce, password, []byte(mac)), nil
}

// Open decrypts what Seal made for the same mac.
func (kr *Keyring) Open(mac string, sealed []byte) ([]byte, error) {
	ns := kr.cur.aead.NonceSize()
	if len(sealed) < 1+8+ns || sealed[0] != sealVersion {
		return nil, fmt.Errorf("bmc password of %s: not a sealed password", mac)
	}
	for _, k := range append([]key{kr.cur}, kr.more...) {
		if string(k.id[:]) != string(sealed[1:9]) {
			continue
		}
		pw, err := k.aead.Open(nil, sealed[9:9+ns], sealed[9+ns:], []byte(mac))
		if err != nil {
			return nil, fmt.Errorf("bmc password of %s: does not open (damaged, or copied from another host): %w", mac, err)
		}
		return pw, nil
	}
	return nil, fmt.Errorf("bmc password of %s: %w", mac, ErrWrongKey)
}

// SealedWithCurrent says whether sealed was made with the keyring's current key.
func (kr *Keyring) SealedWithCurrent(sealed []byte) bool {
	return len(sealed) > 9 && string(sealed[1:9]) == string(kr.cur.id[:])
}
