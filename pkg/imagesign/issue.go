package imagesign

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"time"
)

// issue signs tmpl (a leaf) with the CA for a fresh key of type kt and returns
// the parsed certificate and its key. NotAfter is capped at the CA's own
// expiry so that no leaf outlives its issuer.
func (p *PKI) issue(tmpl *x509.Certificate, kt KeyType) (*x509.Certificate, crypto.Signer, error) {
	if p.cert == nil || p.key == nil {
		return nil, nil, fmt.Errorf("PKI in %s is not open", p.Dir)
	}
	key, err := generateKey(kt)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-5 * time.Minute)
	}
	if tmpl.NotAfter.After(p.cert.NotAfter) {
		tmpl.NotAfter = p.cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, key.Public(), p.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing issued certificate: %w", err)
	}
	return cert, key, nil
}

// writePair writes a key (0600, first) and its certificate (0644) atomically.
func writePair(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, encodeCertsPEM(cert), 0o644)
}
