package imagesign

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// DefaultCodeSigningValidity is the lifetime used when IssueCodeSigning is
// given a validity of zero.
const DefaultCodeSigningValidity = 365 * 24 * time.Hour

// signerNameRE limits signer names to safe file names.
var signerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// IssueCodeSigning issues a signer certificate for image signing: keyUsage
// digitalSignature only, EKU codeSigning, no OCSP or CRL URI (iPXE would try
// to reach them). It writes NAME.pem and NAME.key (0600) into outDir (the PKI
// directory if empty) and refuses to overwrite an existing pair.
func (p *PKI) IssueCodeSigning(name, outDir string, kt KeyType, validity time.Duration) (certFile, keyFile string, err error) {
	if !signerNameRE.MatchString(name) {
		return "", "", fmt.Errorf("issuing code-signing certificate: invalid name %q (letters, digits, '.', '_', '-'; at most 64)", name)
	}
	if outDir == "" {
		outDir = p.Dir
	}
	if validity <= 0 {
		validity = DefaultCodeSigningValidity
	}
	certFile = filepath.Join(outDir, name+".pem")
	keyFile = filepath.Join(outDir, name+".key")
	for _, f := range []string{certFile, keyFile} {
		if f == p.CACertFile() || f == p.caKeyFile() ||
			f == filepath.Join(p.Dir, serverCertName) || f == filepath.Join(p.Dir, serverKeyName) {
			return "", "", fmt.Errorf("issuing code-signing certificate: name %q would overwrite %s", name, f)
		}
		if fileExists(f) {
			return "", "", fmt.Errorf("issuing code-signing certificate: %s already exists", f)
		}
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", fmt.Errorf("issuing code-signing certificate: creating %s: %w", outDir, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"podboot image signer"}},
		NotAfter:    time.Now().Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	cert, key, err := p.issue(tmpl, kt)
	if err != nil {
		return "", "", fmt.Errorf("issuing code-signing certificate: %w", err)
	}
	if err := writePair(certFile, keyFile, cert, key); err != nil {
		return "", "", fmt.Errorf("writing code-signing certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// keyTypeOf returns the key type of a certificate's public key.
func keyTypeOf(c *x509.Certificate) KeyType {
	if _, ok := c.PublicKey.(*ecdsa.PublicKey); ok {
		return KeyECDSA
	}
	return KeyRSA
}
