package uki

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// KeyFiles are the files of an operator Secure Boot key: the PEM pair sbsign signs
// with and the DER certificate firmware menus, BMCs and mokutil enrol.
type KeyFiles struct{ Cert, Key, DER string }

// IssueKey writes a new self-signed Secure Boot signing key named name into dir:
// RSA-2048 (the only key type UEFI requires every firmware to verify), code signing,
// valid for validity. An existing key of that name is not overwritten.
func IssueKey(name, dir string, validity time.Duration) (KeyFiles, error) {
	kf := KeyFiles{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+".key"), DER: filepath.Join(dir, name+".cer")}
	for _, f := range []string{kf.Cert, kf.Key, kf.DER} {
		if _, err := os.Stat(f); err == nil {
			return kf, fmt.Errorf("secure boot key %s: %s exists", name, f)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return kf, fmt.Errorf("secure boot key %s: %w", name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return kf, fmt.Errorf("secure boot key %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"podboot Secure Boot"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return kf, fmt.Errorf("secure boot key %s: %w", name, err)
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{kf.Key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600},
		{kf.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{kf.DER, der, 0o644},
	}
	for _, f := range files {
		if err := writeAtomic(f.path, f.data, f.mode); err != nil {
			return kf, fmt.Errorf("secure boot key %s: %w", name, err)
		}
	}
	return kf, nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
