package artifact

import (
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind says what an artifact is for.
type Kind string

// The artifact kinds of SPEC section 4.
const (
	KindBootloader Kind = "bootloader"
	KindKernel     Kind = "kernel"
	KindInitrd     Kind = "initrd"
	KindStage2     Kind = "stage2"
	KindPackage    Kind = "package"
)

// ValidKind reports whether k is one of the five kinds.
func ValidKind(k Kind) bool {
	switch k {
	case KindBootloader, KindKernel, KindInitrd, KindStage2, KindPackage:
		return true
	}
	return false
}

// Meta is what the caller says about an artifact it ingests.
type Meta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    Kind   `json:"kind"`
	// Signature is the detached CMS signature (DER) of the content, if signed.
	Signature []byte `json:"-"`
	// Signer names the signing certificate (its subject), filled in by the verifier's caller.
	Signer string `json:"signer,omitempty"`
}

// Artifact is a stored artifact's record.
type Artifact struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Kind    Kind   `json:"kind"`
	// Digest is the SHA-256 of the content, lower-case hex.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	Signer string `json:"signer,omitempty"`
	// SignatureDigest is the SHA-256 (hex) of the detached signature blob; empty if unsigned.
	SignatureDigest string    `json:"signatureDigest,omitempty"`
	SignatureSize   int64     `json:"signatureSize,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
}

// Ref is name@version.
func (a Artifact) Ref() string { return a.Name + "@" + a.Version }

// Signed reports whether a detached signature is stored beside the artifact.
func (a Artifact) Signed() bool { return a.SignatureDigest != "" }

// ErrNotFound marks a missing artifact.
var ErrNotFound = errors.New("artifact not found")

// ErrConflict marks an artifact version that already exists with other content.
var ErrConflict = errors.New("artifact conflict")

// ErrInvalid marks bad metadata.
var ErrInvalid = errors.New("invalid artifact")

// ErrRejected wraps the verify callback's refusal.
var ErrRejected = errors.New("artifact rejected")

// nameRE admits names that are safe as one path element in TFTP and HTTP paths and as a
// file name: letters, digits, '.', '_', '-', '+', starting with a letter or digit.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$`)

// ValidName checks an artifact name or version.
func ValidName(field, s string) error {
	if !nameRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%w: %s %q: use 1-100 letters, digits, '.', '_', '+' or '-', starting with a letter or digit, without '..'", ErrInvalid, field, s)
	}
	return nil
}

// ParseRef splits "name" or "name@version"; version is empty for a bare name.
func ParseRef(ref string) (name, version string, err error) {
	name, version, hasAt := strings.Cut(ref, "@")
	if err := ValidName("artifact name", name); err != nil {
		return "", "", err
	}
	if hasAt {
		if err := ValidName("artifact version", version); err != nil {
			return "", "", err
		}
	}
	return name, version, nil
}

func validDigest(d string) bool {
	if len(d) != 64 {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil && strings.ToLower(d) == d
}
