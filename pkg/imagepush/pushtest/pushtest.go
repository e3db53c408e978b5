// Package pushtest makes the certificates and signatures the image-push tests need:
// a root, good code-signing signers, and signers that are wrong in exactly one way
// (key usage, validity, issuer). It exists so that the handler's unit tests and the
// binary-driven tests of `podboot image push` exercise the same cases.
package pushtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/imagesign"
)

// Cert is a certificate and its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Spec says how a leaf differs from a good code-signing certificate.
type Spec struct {
	KeyUsage  x509.KeyUsage      // default digitalSignature
	EKU       []x509.ExtKeyUsage // default codeSigning
	NotBefore time.Time          // default an hour ago
	NotAfter  time.Time          // default in a year
}

// Root makes a self-signed root CA (ECDSA P-256: fast, and the key type does not change
// any verification path).
func Root(t testing.TB, cn string) *Cert {
	t.Helper()
	return mk(t, cn, nil, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, nil, time.Now().Add(-time.Hour), time.Now().AddDate(5, 0, 0))
}

// Signer makes a leaf under parent as spec says.
func Signer(t testing.TB, parent *Cert, cn string, spec Spec) *Cert {
	t.Helper()
	if spec.KeyUsage == 0 {
		spec.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if spec.EKU == nil {
		spec.EKU = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	if spec.NotBefore.IsZero() {
		spec.NotBefore = time.Now().Add(-time.Hour)
	}
	if spec.NotAfter.IsZero() {
		spec.NotAfter = time.Now().AddDate(1, 0, 0)
	}
	return mk(t, cn, parent, false, spec.KeyUsage, spec.EKU, spec.NotBefore, spec.NotAfter)
}

func mk(t testing.TB, cn string, parent *Cert, ca bool, ku x509.KeyUsage, eku []x509.ExtKeyUsage, nb, na time.Time) *Cert {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: na,
		KeyUsage: ku, ExtKeyUsage: eku, BasicConstraintsValid: true, IsCA: ca,
	}
	issuer, issuerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: c, Key: key}
}

// Write stores the certificate and key as dir/NAME.pem and dir/NAME.key.
func (c *Cert) Write(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}), 0o644)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// Sign makes podboot's detached signature of content.
func (c *Cert) Sign(t testing.TB, content []byte) []byte {
	t.Helper()
	sig, err := imagesign.Sign(context.Background(), strings.NewReader(string(content)), c.Cert, c.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func writeFile(t testing.TB, name string, b []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, perm); err != nil {
		t.Fatal(err)
	}
}
