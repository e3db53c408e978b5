package imagesign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// KeyType selects the algorithm of a newly generated key.
type KeyType string

// Supported key types. The zero value means KeyRSA.
const (
	// KeyRSA is RSA-3072: accepted by every iPXE build with image trust.
	KeyRSA KeyType = "rsa"
	// KeyECDSA is ECDSA on P-256: smaller and faster, but only very recent
	// iPXE builds verify ECDSA signatures.
	KeyECDSA KeyType = "ecdsa"
)

// rsaBits is the modulus size of generated RSA keys.
const rsaBits = 3072

// ParseKeyType turns a flag value into a KeyType ("" means RSA).
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case "", KeyRSA:
		return KeyRSA, nil
	case KeyECDSA:
		return KeyECDSA, nil
	}
	return "", fmt.Errorf("unknown key type %q (want %q or %q)", s, KeyRSA, KeyECDSA)
}

// generateKey makes a fresh private key of the given type.
func generateKey(kt KeyType) (crypto.Signer, error) {
	kt, err := ParseKeyType(string(kt))
	if err != nil {
		return nil, err
	}
	switch kt {
	case KeyECDSA:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
		}
		return k, nil
	default:
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generating RSA-%d key: %w", rsaBits, err)
		}
		return k, nil
	}
}

// encodeKeyPEM encodes a private key as a PKCS#8 "PRIVATE KEY" PEM block.
func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes the first private key in PEM data: PKCS#8,
// PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). Only RSA and ECDSA
// keys are accepted.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no private key PEM block found")
		}
		var (
			k   any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported; decrypt it first (openssl pkey)")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("unsupported private key type %T (want RSA or ECDSA)", k)
		}
	}
}

// LoadPrivateKey reads a PEM private key file.
func LoadPrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	k, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", file, err)
	}
	return k, nil
}

// keyMatchesCert reports whether key is the private half of cert's public key.
func keyMatchesCert(key crypto.Signer, cert *x509.Certificate) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	return ok && pub.Equal(cert.PublicKey)
}
