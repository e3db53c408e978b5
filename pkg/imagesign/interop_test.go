package imagesign

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"
)

// openssl returns the path of the openssl binary. Missing openssl skips the
// interop tests on a developer machine but fails them in CI (CI=true), so
// that interop is never silently untested there.
func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required for the interop tests in CI: install it (apt-get install openssl)")
		}
		t.Skip("openssl not installed; interop tests need it (they fail instead of skipping when CI=true)")
	}
	return p
}

func runOpenSSL(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	return cmd.CombinedOutput()
}

func writePEM(t *testing.T, file string, certs ...*testCert) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, encodeCertsPEM(c.cert)...)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func writeKey(t *testing.T, file string, c *testCert) string {
	t.Helper()
	b, err := encodeKeyPEM(c.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// interopPKI is a root, an intermediate and RSA/ECDSA signers, valid now
// (openssl verifies at the wall clock).
type interopPKI struct {
	dir                  string
	root, inter          *testCert
	rsaSigner, ecSigner  *testCert
	rootPEM, chainPEM    string
	content, contentFile string
}

func newInteropPKI(t *testing.T) *interopPKI {
	now := time.Now()
	spec := func(s certSpec) certSpec {
		s.notBefore, s.notAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
		return s
	}
	root := mkCert(t, spec(certSpec{cn: "interop root", ca: true, keyUsage: x509.KeyUsageCertSign, key: testRSAKeys[0]}))
	inter := mkCert(t, spec(certSpec{cn: "interop intermediate", ca: true, parent: root, keyUsage: x509.KeyUsageCertSign}))
	leaf := func(cn string, key *testCert) *testCert {
		s := spec(certSpec{cn: cn, parent: inter, keyUsage: x509.KeyUsageDigitalSignature,
			eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
		if key != nil {
			s.key = key.key
		}
		return mkCert(t, s)
	}
	p := &interopPKI{dir: t.TempDir(), root: root, inter: inter,
		rsaSigner: leaf("rsa signer", &testCert{key: testRSAKeys[1]}), ecSigner: leaf("ec signer", nil)}
	p.rootPEM = writePEM(t, filepath.Join(p.dir, "root.pem"), root)
	p.chainPEM = writePEM(t, filepath.Join(p.dir, "chain.pem"), inter)
	p.contentFile = filepath.Join(p.dir, "image")
	if err := os.WriteFile(p.contentFile, testContent, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// podboot signs, openssl verifies (with an intermediate inside the CMS).
func TestInteropOpenSSLVerifiesPodboot(t *testing.T) {
	p := newInteropPKI(t)
	for _, signer := range []*testCert{p.rsaSigner, p.ecSigner} {
		t.Run(signer.cert.Subject.CommonName, func(t *testing.T) {
			sig, err := Sign(context.Background(), bytes.NewReader(testContent), signer.cert, signer.key, []*x509.Certificate{p.inter.cert})
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(p.dir, "image.p7s")
			if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runOpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
				"-content", p.contentFile, "-CAfile", p.rootPEM, "-purpose", "any", "-out", os.DevNull)
			if err != nil {
				t.Fatalf("openssl cms -verify refused podboot's signature: %v\n%s", err, out)
			}
			// And openssl must notice tampering, or the test proves nothing.
			bad := filepath.Join(p.dir, "tampered")
			tampered := bytes.Clone(testContent)
			tampered[0] ^= 1
			if err := os.WriteFile(bad, tampered, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runOpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
				"-content", bad, "-CAfile", p.rootPEM, "-purpose", "any", "-out", os.DevNull); err == nil {
				t.Fatalf("openssl accepted tampered content:\n%s", out)
			}
		})
	}
}

// openssl signs; podboot verifies -noattr signatures and refuses the rest
// with a clear reason.
func TestInteropPodbootVerifiesOpenSSL(t *testing.T) {
	p := newInteropPKI(t)
	tests := []struct {
		name   string
		signer *testCert
		extra  []string
		want   Reason
	}{
		{"rsa noattr", p.rsaSigner, []string{"-noattr"}, ""},
		{"ecdsa noattr", p.ecSigner, []string{"-noattr"}, ""},
		{"rsa with signed attributes", p.rsaSigner, nil, ReasonSignedAttributes},
		{"signer named by keyid", p.rsaSigner, []string{"-noattr", "-keyid"}, ReasonUnsupported},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := writePEM(t, filepath.Join(p.dir, "cs.pem"), tc.signer)
			key := writeKey(t, filepath.Join(p.dir, "cs.key"), tc.signer)
			sigFile := filepath.Join(p.dir, "openssl.p7s")
			args := append([]string{"cms", "-sign", "-binary", "-in", p.contentFile, "-signer", cs, "-inkey", key,
				"-certfile", p.chainPEM, "-md", "sha256", "-outform", "DER", "-out", sigFile}, tc.extra...)
			if out, err := runOpenSSL(t, args...); err != nil {
				t.Fatalf("openssl cms -sign (case %d): %v\n%s", i, err, out)
			}
			sig, err := os.ReadFile(sigFile)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p.contentFile)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := Verify(context.Background(), sig, f, poolOf(p.root), time.Now())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused openssl's signature: %v", err)
			case tc.want == "" && !res.Signer.Equal(tc.signer.cert):
				t.Fatalf("signer = %q", res.Signer.Subject)
			case tc.want != "" && ReasonOf(err) != tc.want:
				t.Fatalf("got %v, want reason %q", err, tc.want)
			}
		})
	}
}

// An independent CMS implementation (go.mozilla.org/pkcs7) agrees with ours
// both ways.
func TestInteropPKCS7(t *testing.T) {
	p := newInteropPKI(t)
	roots := poolOf(p.root)
	now := time.Now()

	sig, err := Sign(context.Background(), bytes.NewReader(testContent), p.rsaSigner.cert, p.rsaSigner.key, []*x509.Certificate{p.inter.cert})
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(sig)
	if err != nil {
		t.Fatalf("pkcs7.Parse: %v", err)
	}
	p7.Content = testContent
	if err := p7.VerifyWithChainAtTime(roots, now); err != nil {
		t.Fatalf("pkcs7 refused podboot's signature: %v", err)
	}

	sd, err := pkcs7.NewSignedData(testContent)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.SignWithoutAttr(p.rsaSigner.cert, p.rsaSigner.key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.AddCertificate(p.inter.cert)
	sd.Detach()
	theirs, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(context.Background(), theirs, bytes.NewReader(testContent), roots, now); err != nil {
		t.Fatalf("podboot refused pkcs7's signature: %v", err)
	}
}

// A PEM-armoured signature (openssl -outform PEM) is accepted by DecodeSignature.
func TestDecodeSignaturePEM(t *testing.T) {
	p := newInteropPKI(t)
	sig, err := Sign(context.Background(), bytes.NewReader(testContent), p.ecSigner.cert, p.ecSigner.key, []*x509.Certificate{p.inter.cert})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"CMS", "PKCS7"} {
		armoured := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: sig})
		if got := DecodeSignature(armoured); !bytes.Equal(got, sig) {
			t.Fatalf("DecodeSignature(%s PEM) did not return the DER", typ)
		}
	}
	if got := DecodeSignature(sig); !bytes.Equal(got, sig) {
		t.Fatal("DecodeSignature changed DER input")
	}
}

// The certificates `podboot ca` issues work end to end with OpenSSL.
func TestInteropIssuedCertificate(t *testing.T) {
	dir := t.TempDir()
	p, err := InitCA(dir, "issued root", KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := p.IssueCodeSigning("ci", dir, KeyECDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := LoadCertificates(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(context.Background(), bytes.NewReader(testContent), certs[0], key, nil)
	if err != nil {
		t.Fatal(err)
	}
	content, sigFile := filepath.Join(dir, "image"), filepath.Join(dir, "image.p7s")
	if err := os.WriteFile(content, testContent, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runOpenSSL(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
		"-content", content, "-CAfile", p.CACertFile(), "-purpose", "any", "-out", os.DevNull); err != nil {
		t.Fatalf("openssl refused: %v\n%s", err, out)
	}
	if _, err := Verify(context.Background(), sig, bytes.NewReader(testContent), p.CertPool(), time.Now()); err != nil {
		t.Fatal(err)
	}
}
