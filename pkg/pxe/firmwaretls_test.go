package pxe

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHTTPSFirmwareCiphers: a TLS 1.2 client that offers only RSA key exchange (as
// EDK2's HTTPS boot does) is served by the boot HTTPS listener with an RSA certificate
// (curl with --ciphers AES128-GCM-SHA256), and ECDHE and default clients still are.
func TestHTTPSFirmwareCiphers(t *testing.T) {
	need(t, "curl")
	cert, key := selfSignedRSA(t)
	f := newFixture(t, func(c *Config) { c.HTTPSAddr, c.TLSCertFile, c.TLSKeyFile = "127.0.0.1:0", cert, key })
	url := "https://" + f.svc.HTTPSAddr().String() + "/boot/pod-a/52-54-00-00-00-0a/vmlinuz"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"RSA key exchange, TLS 1.2", []string{"--tls-max", "1.2", "--ciphers", "AES128-GCM-SHA256"}},
		{"ECDHE, TLS 1.2", []string{"--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"}},
		{"default client", nil},
	} {
		// curl fails the test when the handshake fails.
		if r := curl(t, append([]string{"-k"}, append(tc.args, url)...)...); r.code != "200" {
			t.Errorf("%s: HTTP %s", tc.name, r.code)
		}
	}
}

func selfSignedRSA(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	return certFile, keyFile
}
