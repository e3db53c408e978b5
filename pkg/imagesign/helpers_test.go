package imagesign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"testing"
	"time"
)

// testRSAKeys are generated once per test binary: RSA key generation is the
// slow part of these tests. RSA-2048 keeps them fast; the key size does not
// change any code path.
var testRSAKeys []*rsa.PrivateKey

func TestMain(m *testing.M) {
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			fmt.Fprintln(os.Stderr, "generating test RSA key:", err)
			os.Exit(2)
		}
		testRSAKeys = append(testRSAKeys, k)
	}
	os.Exit(m.Run())
}

// testNow is the fixed verification time of the tests.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// certSpec describes a test certificate. Zero fields get sensible defaults:
// valid a year around testNow (CAs longer), signed by parent (self-signed if nil).
type certSpec struct {
	cn        string
	parent    *testCert
	ca        bool
	keyUsage  x509.KeyUsage
	eku       []x509.ExtKeyUsage
	notBefore time.Time
	notAfter  time.Time
	key       crypto.Signer // default: fresh ECDSA P-256
}

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func mkCert(t testing.TB, s certSpec) *testCert {
	t.Helper()
	key := s.key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	}
	life := 180 * 24 * time.Hour
	if s.ca {
		life = 1000 * 24 * time.Hour
	}
	if s.notBefore.IsZero() {
		s.notBefore = testNow.Add(-life)
	}
	if s.notAfter.IsZero() {
		s.notAfter = testNow.Add(life)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	ski := make([]byte, 20) // leaves get none from x509 by default; openssl -keyid needs one
	_, _ = rand.Read(ski)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             s.notBefore,
		NotAfter:              s.notAfter,
		KeyUsage:              s.keyUsage,
		ExtKeyUsage:           s.eku,
		BasicConstraintsValid: true,
		IsCA:                  s.ca,
		SubjectKeyId:          ski,
	}
	parent, parentKey := tmpl, key
	if s.parent != nil {
		parent, parentKey = s.parent.cert, s.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

func mkRoot(t testing.TB, cn string) *testCert {
	return mkCert(t, certSpec{cn: cn, ca: true, keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign})
}

func mkIntermediate(t testing.TB, cn string, parent *testCert) *testCert {
	return mkCert(t, certSpec{cn: cn, ca: true, parent: parent, keyUsage: x509.KeyUsageCertSign})
}

// mkSigner makes a proper code-signing certificate under parent.
func mkSigner(t testing.TB, cn string, parent *testCert, key crypto.Signer) *testCert {
	return mkCert(t, certSpec{cn: cn, parent: parent, key: key,
		keyUsage: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
}

func poolOf(certs ...*testCert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.cert)
	}
	return p
}
