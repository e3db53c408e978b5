package imagesign

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// File names of podboot's own HTTPS certificate inside the PKI directory.
const (
	serverCertName = "server.pem"
	serverKeyName  = "server.key"
)

const (
	// serverValidity is the lifetime of a new HTTPS certificate.
	serverValidity = 397 * 24 * time.Hour
	// serverRenewBefore is how close to expiry a certificate is replaced.
	serverRenewBefore = 30 * 24 * time.Hour
)

// EnsureServerCert makes (or reuses, if present, still valid for more than 30
// days, issued by this CA and covering the names) dir/server.pem and
// dir/server.key (0600) for the given DNS names and IP addresses, signed by
// the CA, and returns the file paths. Each name is an IP address if it parses
// as one, a DNS name otherwise.
func (p *PKI) EnsureServerCert(names []string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(p.Dir, serverCertName)
	keyFile = filepath.Join(p.Dir, serverKeyName)
	dnsNames, ips, err := splitNames(names)
	if err != nil {
		return "", "", fmt.Errorf("server certificate: %w", err)
	}
	if p.serverCertReusable(certFile, keyFile, dnsNames, ips, time.Now()) {
		return certFile, keyFile, nil
	}
	cn := "podboot"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"podboot"}},
		NotAfter:    time.Now().Add(serverValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}
	cert, key, err := p.issue(tmpl, keyTypeOf(p.cert))
	if err != nil {
		return "", "", fmt.Errorf("issuing server certificate: %w", err)
	}
	if err := writePair(certFile, keyFile, cert, key); err != nil {
		return "", "", fmt.Errorf("writing server certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// serverCertReusable reports whether the existing pair can be kept.
func (p *PKI) serverCertReusable(certFile, keyFile string, dnsNames []string, ips []net.IP, now time.Time) bool {
	certs, err := LoadCertificates(certFile)
	if err != nil {
		return false
	}
	key, err := LoadPrivateKey(keyFile)
	if err != nil {
		return false
	}
	c := certs[0]
	if !keyMatchesCert(key, c) || c.CheckSignatureFrom(p.cert) != nil {
		return false
	}
	if now.Before(c.NotBefore) || now.Add(serverRenewBefore).After(c.NotAfter) {
		return false
	}
	for _, n := range dnsNames {
		if c.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, ip := range ips {
		if c.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	return true
}

// splitNames sorts names into DNS names and IP addresses, dropping duplicates.
func splitNames(names []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if len(n) > 253 {
			return nil, nil, fmt.Errorf("DNS name too long: %q", n)
		}
		dnsNames = append(dnsNames, n)
	}
	return dnsNames, ips, nil
}
