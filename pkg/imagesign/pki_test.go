package imagesign

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInitOpenCA(t *testing.T) {
	dir := t.TempDir()
	p, err := InitCA(dir, "test CA", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	if !p.CACert().IsCA || p.CACert().Subject.CommonName != "test CA" {
		t.Fatalf("bad CA cert: %+v", p.CACert().Subject)
	}
	assertMode(t, filepath.Join(dir, "ca.key"), 0o600)
	if _, err := InitCA(dir, "again", KeyECDSA); !errors.Is(err, ErrCAExists) {
		t.Fatalf("second InitCA: got %v, want ErrCAExists", err)
	}
	q, err := OpenCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !q.CACert().Equal(p.CACert()) {
		t.Fatal("OpenCA returned a different certificate")
	}
	r, err := InitCA(dir, "forced", KeyECDSA, WithForce())
	if err != nil {
		t.Fatal(err)
	}
	if r.CACert().Equal(p.CACert()) {
		t.Fatal("forced InitCA kept the old certificate")
	}
	if _, err := OpenCA(t.TempDir()); err == nil {
		t.Fatal("OpenCA of an empty directory succeeded")
	}
}

func TestImportCA(t *testing.T) {
	src, err := InitCA(t.TempDir(), "operator root", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	other, err := InitCA(t.TempDir(), "other root", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	leafCert, leafKey, err := src.IssueCodeSigning("leaf", t.TempDir(), KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert, key string
		wantErr   bool
	}{
		{"valid", src.CACertFile(), src.caKeyFile(), false},
		{"key does not match", src.CACertFile(), other.caKeyFile(), true},
		{"not a CA", leafCert, leafKey, true},
		{"missing cert", filepath.Join(t.TempDir(), "nope.pem"), src.caKeyFile(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := ImportCA(dir, tc.cert, tc.key)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ImportCA: err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			assertMode(t, filepath.Join(dir, "ca.key"), 0o600)
			if !p.CACert().Equal(src.CACert()) {
				t.Fatal("imported certificate differs")
			}
			if _, err := OpenCA(dir); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEnsureServerCert(t *testing.T) {
	p, err := InitCA(t.TempDir(), "", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := p.EnsureServerCert([]string{"podboot.example", "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, keyFile, 0o600)
	certs, err := LoadCertificates(certFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots: p.CertPool(), DNSName: "podboot.example",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Fatalf("server certificate does not verify: %v", err)
	}
	tests := []struct {
		name    string
		names   []string
		reissue bool
	}{
		{"same names reused", []string{"podboot.example", "10.0.0.1"}, false},
		{"subset reused", []string{"10.0.0.1"}, false},
		{"new name reissued", []string{"podboot.example", "10.0.0.1", "other.example"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadFile(certFile)
			if _, _, err := p.EnsureServerCert(tc.names); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(certFile)
			if changed := string(before) != string(after); changed != tc.reissue {
				t.Fatalf("reissued = %v, want %v", changed, tc.reissue)
			}
		})
	}
}

func TestIssueCodeSigning(t *testing.T) {
	p, err := InitCA(t.TempDir(), "", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	certFile, keyFile, err := p.IssueCodeSigning("ci", out, KeyECDSA, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, keyFile, 0o600)
	certs, err := LoadCertificates(certFile)
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage = %v, want digitalSignature only", c.KeyUsage)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning {
		t.Errorf("EKU = %v, want codeSigning", c.ExtKeyUsage)
	}
	if len(c.OCSPServer) != 0 || len(c.CRLDistributionPoints) != 0 {
		t.Error("code-signing certificate carries OCSP or CRL URIs")
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: p.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"ci", "../x", "", "ca", "a/b"} {
		dir := out
		if bad == "ca" {
			dir = ""
		}
		if _, _, err := p.IssueCodeSigning(bad, dir, KeyECDSA, time.Hour); err == nil {
			t.Errorf("IssueCodeSigning(%q) succeeded, want refusal", bad)
		}
	}
}

func assertMode(t *testing.T, file string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Fatalf("%s mode = %o, want %o", file, got, want)
	}
}
