package imagesign

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File names inside a PKI directory.
const (
	caCertName = "ca.pem"
	caKeyName  = "ca.key"
)

// caValidity is the lifetime of a CA created by InitCA.
const caValidity = 10 * 365 * 24 * time.Hour

// ErrCAExists is returned by InitCA and ImportCA when the directory already
// holds a CA and WithForce was not given.
var ErrCAExists = errors.New("a CA already exists in this directory")

// PKI is a CA kept in a directory: ca.pem, ca.key (0600), and issued certs.
type PKI struct {
	// Dir is the directory holding ca.pem, ca.key, server.pem and server.key.
	Dir string

	cert *x509.Certificate
	key  crypto.Signer
}

// CAOption changes how InitCA and ImportCA treat an existing CA.
type CAOption func(*caOptions)

type caOptions struct{ force bool }

// WithForce lets InitCA and ImportCA replace an existing CA. Certificates
// issued by the old CA stop verifying against the new one.
func WithForce() CAOption { return func(o *caOptions) { o.force = true } }

func applyCAOptions(opts []CAOption) caOptions {
	var o caOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// CACertFile is the path of the CA certificate (PEM).
func (p *PKI) CACertFile() string { return filepath.Join(p.Dir, caCertName) }

// caKeyFile is the path of the CA private key (PEM, 0600).
func (p *PKI) caKeyFile() string { return filepath.Join(p.Dir, caKeyName) }

// CACert returns the CA certificate.
func (p *PKI) CACert() *x509.Certificate { return p.cert }

// CertPool returns a pool holding only the CA certificate, for verification.
func (p *PKI) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

// InitCA creates dir/ca.pem and dir/ca.key (0600) if absent; errors with
// ErrCAExists if present unless WithForce is given. commonName names the CA.
func InitCA(dir, commonName string, kt KeyType, opts ...CAOption) (*PKI, error) {
	o := applyCAOptions(opts)
	if commonName == "" {
		commonName = "podboot root CA"
	}
	p := &PKI{Dir: dir}
	if err := p.prepareDir(o.force); err != nil {
		return nil, fmt.Errorf("initialising CA in %s: %w", dir, err)
	}
	key, err := generateKey(kt)
	if err != nil {
		return nil, fmt.Errorf("initialising CA: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("initialising CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"podboot"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-signing CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new CA certificate: %w", err)
	}
	p.cert, p.key = cert, key
	if err := p.writeCA(); err != nil {
		return nil, fmt.Errorf("initialising CA in %s: %w", dir, err)
	}
	return p, nil
}

// OpenCA loads an existing CA from dir.
func OpenCA(dir string) (*PKI, error) {
	p := &PKI{Dir: dir}
	certs, err := LoadCertificates(p.CACertFile())
	if err != nil {
		return nil, fmt.Errorf("opening CA in %s: %w", dir, err)
	}
	key, err := LoadPrivateKey(p.caKeyFile())
	if err != nil {
		return nil, fmt.Errorf("opening CA in %s: %w", dir, err)
	}
	if err := validateCA(certs[0], key); err != nil {
		return nil, fmt.Errorf("opening CA in %s: %w", dir, err)
	}
	p.cert, p.key = certs[0], key
	return p, nil
}

// ImportCA copies an operator's existing root CA cert+key into dir after
// checking that the certificate is a CA and that the key matches it. Like
// InitCA it refuses to replace an existing CA unless WithForce is given.
func ImportCA(dir, certPEMFile, keyPEMFile string, opts ...CAOption) (*PKI, error) {
	o := applyCAOptions(opts)
	certs, err := LoadCertificates(certPEMFile)
	if err != nil {
		return nil, fmt.Errorf("importing CA: %w", err)
	}
	key, err := LoadPrivateKey(keyPEMFile)
	if err != nil {
		return nil, fmt.Errorf("importing CA: %w", err)
	}
	if err := validateCA(certs[0], key); err != nil {
		return nil, fmt.Errorf("importing CA from %s: %w", certPEMFile, err)
	}
	p := &PKI{Dir: dir, cert: certs[0], key: key}
	if err := p.prepareDir(o.force); err != nil {
		return nil, fmt.Errorf("importing CA into %s: %w", dir, err)
	}
	if err := p.writeCA(); err != nil {
		return nil, fmt.Errorf("importing CA into %s: %w", dir, err)
	}
	return p, nil
}

// validateCA checks that cert can act as podboot's CA and key belongs to it.
func validateCA(cert *x509.Certificate, key crypto.Signer) error {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("certificate %q is not a CA (basicConstraints CA:TRUE missing)", cert.Subject)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("CA certificate %q lacks keyUsage keyCertSign", cert.Subject)
	}
	if !keyMatchesCert(key, cert) {
		return fmt.Errorf("private key does not match CA certificate %q", cert.Subject)
	}
	return nil
}

// prepareDir creates the directory (0700) and refuses to overwrite a CA
// unless force is set.
func (p *PKI) prepareDir(force bool) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("creating directory: %w", err)
	}
	if !force && (fileExists(p.CACertFile()) || fileExists(p.caKeyFile())) {
		return ErrCAExists
	}
	return nil
}

// writeCA writes the key first so that a crash never leaves a certificate
// whose key is missing; a stale server certificate is removed because it was
// signed by the previous CA.
func (p *PKI) writeCA() error {
	keyPEM, err := encodeKeyPEM(p.key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.caKeyFile(), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(p.CACertFile(), encodeCertsPEM(p.cert), 0o644); err != nil {
		return err
	}
	for _, name := range []string{serverCertName, serverKeyName} {
		if err := os.Remove(filepath.Join(p.Dir, name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("removing stale %s: %w", name, err)
		}
	}
	return nil
}
