package server

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/podboot/podboot/pkg/imagesign"
	"github.com/podboot/podboot/pkg/podmgr"
)

const (
	// ownCertCacheSize bounds the certificates kept for pod server addresses added since
	// start-up; an evicted one is issued again on its next handshake (one signature).
	ownCertCacheSize = 256
	// ownCertValidity is the lifetime of such a certificate; it is issued again when
	// less than ownCertRenewBefore is left.
	ownCertValidity    = 90 * 24 * time.Hour
	ownCertRenewBefore = 30 * 24 * time.Hour
	// caKeyFile is the CA key's name inside DATA_DIR/pki (docs/configuration.md).
	caKeyFile = "ca.key"
)

// ownCerts picks podboot's own HTTPS certificate for each TLS handshake (the management
// API and the boot service's HTTPS listener share it). The default is DATA_DIR/pki/
// server.pem, made at start-up for loopback, the host name, api.names and the server
// addresses of the pods that existed then. A pod registered (or moved) later gets, on
// its first handshake, a certificate for its server address alone, signed by podboot's
// CA with server.pem's key and cached, so its agents connect without a restart.
//
// The address asked for is the SNI name when the client sends one as an IP address and,
// as usual for IP URLs (clients send no SNI then), the local address the connection
// reached. Only a current pod's server address gets a certificate issued; any other
// name or address, including every DNS name, gets the default certificate, which does
// not cover it, so the client refuses the connection.
type ownCerts struct {
	base    *tls.Certificate
	covered map[netip.Addr]bool // IP addresses the default certificate names
	caCert  *x509.Certificate
	caKey   crypto.Signer
	key     crypto.Signer // server.pem's key, reused: no key generation per handshake
	reg     *podmgr.Registry
	log     *slog.Logger
	now     func() time.Time
	max     int

	issuing singleflight.Group
	mu      sync.Mutex
	cache   map[netip.Addr]*tls.Certificate
	order   []netip.Addr // cache keys, oldest first
}

// newOwnCerts loads the default certificate (certFile, keyFile) and podboot's CA.
func newOwnCerts(pki *imagesign.PKI, certFile, keyFile string, reg *podmgr.Registry, log *slog.Logger) (*ownCerts, error) {
	base, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load podboot's HTTPS certificate: %w", err)
	}
	if base.Leaf == nil {
		if base.Leaf, err = x509.ParseCertificate(base.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse podboot's HTTPS certificate: %w", err)
		}
	}
	key, ok := base.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("podboot's HTTPS key cannot sign")
	}
	caKey, err := imagesign.LoadPrivateKey(filepath.Join(pki.Dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load podboot CA key: %w", err)
	}
	c := &ownCerts{base: &base, covered: map[netip.Addr]bool{}, caCert: pki.CACert(), caKey: caKey, key: key,
		reg: reg, log: log.With("component", "tls"), now: time.Now, max: ownCertCacheSize, cache: map[netip.Addr]*tls.Certificate{}}
	for _, ip := range base.Leaf.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			c.covered[a.Unmap()] = true
		}
	}
	return c, nil
}

// GetCertificate is tls.Config.GetCertificate. Leave tls.Config.Certificates empty:
// crypto/tls calls GetCertificate for clients without SNI only then.
func (c *ownCerts) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ip, ok := requestedAddr(hello)
	if !ok || c.covered[ip] || !c.isPodAddress(ip) {
		return c.base, nil
	}
	cert, err := c.forAddress(ip)
	if err != nil {
		c.log.Warn("issue certificate for pod server address", "addr", ip.String(), "err", err)
		return nil, err
	}
	return cert, nil
}

// requestedAddr is the IP address a client asked for: an SNI name that is an IP address
// (some clients send one), else the local address its connection reached when it sent
// no SNI. A DNS name gives false: podboot never issues for names.
func requestedAddr(hello *tls.ClientHelloInfo) (netip.Addr, bool) {
	if hello.ServerName != "" {
		a, err := netip.ParseAddr(hello.ServerName)
		return a.Unmap(), err == nil
	}
	if hello.Conn == nil {
		return netip.Addr{}, false
	}
	ta, ok := hello.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	return ta.AddrPort().Addr().Unmap(), true
}

// isPodAddress reports whether ip is the server address of a pod that exists now.
func (c *ownCerts) isPodAddress(ip netip.Addr) bool {
	for _, name := range c.reg.PodNames() {
		if pc, ok := c.reg.Pod(name); ok && pc.ServerAddr == ip {
			return true
		}
	}
	return false
}

// forAddress returns the cached certificate for ip, issuing it when there is none or
// it is due for renewal; concurrent handshakes for one address share one issue.
func (c *ownCerts) forAddress(ip netip.Addr) (*tls.Certificate, error) {
	c.mu.Lock()
	cert, ok := c.cache[ip]
	c.mu.Unlock()
	if ok && c.now().Add(ownCertRenewBefore).Before(cert.Leaf.NotAfter) {
		return cert, nil
	}
	v, err, _ := c.issuing.Do(ip.String(), func() (any, error) {
		cert, err := c.issue(ip)
		if err != nil {
			return nil, err
		}
		c.put(ip, cert)
		c.log.Info("issued HTTPS certificate for a pod server address added since start-up", "addr", ip.String(), "not_after", cert.Leaf.NotAfter.Format(time.RFC3339))
		return cert, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

// put caches cert, dropping the oldest entry when the cache is full.
func (c *ownCerts) put(ip netip.Addr, cert *tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cache[ip]; !ok {
		if len(c.order) >= c.max {
			delete(c.cache, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, ip)
	}
	c.cache[ip] = cert
}

// issue signs a server certificate for ip alone with podboot's CA.
func (c *ownCerts) issue(ip netip.Addr) (*tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	now := c.now()
	notAfter := now.Add(ownCertValidity)
	if notAfter.After(c.caCert.NotAfter) {
		notAfter = c.caCert.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := c.key.Public().(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: ip.String(), Organization: []string{"podboot"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{ip.AsSlice()},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, c.key.Public(), c.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate for %s: %w", ip, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate for %s: %w", ip, err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.key, Leaf: leaf}, nil
}
