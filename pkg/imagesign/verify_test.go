package imagesign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"testing"
	"time"
)

// sigCase is one Verify scenario: build returns the signature, the content
// handed to Verify, and the trusted roots.
type sigCase struct {
	name  string
	build func(t *testing.T) (sig, content []byte, roots *x509.CertPool)
	opts  []VerifyOption
	now   time.Time // testNow if zero
	want  Reason    // "" means accepted
}

var testContent = bytes.Repeat([]byte("podboot image payload\n"), 1000)

// signWith signs testContent with Sign.
func signWith(t *testing.T, signer *testCert, chain ...*testCert) []byte {
	t.Helper()
	var certs []*x509.Certificate
	for _, c := range chain {
		certs = append(certs, c.cert)
	}
	sig, err := Sign(context.Background(), bytes.NewReader(testContent), signer.cert, signer.key, certs)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signInfos hand-builds a SignedData from signer infos over testContent,
// after letting mutate alter each one.
func signInfos(t *testing.T, mutate func(*signerInfo), signers ...*testCert) []byte {
	t.Helper()
	digest := sha256.Sum256(testContent)
	var infos []signerInfo
	var certs []*x509.Certificate
	for _, s := range signers {
		si, err := newSignerInfo(digest[:], s.cert, s.key)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(&si)
		}
		infos = append(infos, si)
		certs = append(certs, s.cert)
	}
	der, err := marshalSignedData(infos, certs)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerify(t *testing.T) {
	root := mkRoot(t, "root")
	otherRoot := mkRoot(t, "other root")
	inter := mkIntermediate(t, "intermediate", root)
	good := mkSigner(t, "signer", root, nil)
	goodRSA := mkSigner(t, "rsa signer", root, testRSAKeys[0])
	day := 24 * time.Hour

	simple := func(signer *testCert, chain ...*testCert) func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
		return func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signWith(t, signer, chain...), testContent, poolOf(root)
		}
	}
	tampered := bytes.Clone(testContent)
	tampered[100] ^= 1

	cases := []sigCase{
		{name: "ecdsa accepted", build: simple(good)},
		{name: "rsa accepted", build: simple(goodRSA)},
		{name: "intermediate accepted", build: simple(mkSigner(t, "via inter", inter, testRSAKeys[1]), inter)},
		{name: "exact expected size accepted", build: simple(good), opts: []VerifyOption{WithExpectedSize(int64(len(testContent)))}},
		{name: "trust evaluated at now, not at signing", build: simple(mkCert(t, certSpec{cn: "old", parent: root,
			keyUsage: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			notBefore: testNow.Add(-400 * day), notAfter: testNow.Add(-300 * day)})),
			now: testNow.Add(-350 * day)},
		{name: "expired signer", want: ReasonExpired, build: simple(mkCert(t, certSpec{cn: "expired", parent: root,
			keyUsage: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			notBefore: testNow.Add(-400 * day), notAfter: testNow.Add(-day)}))},
		{name: "not yet valid signer", want: ReasonExpired, build: simple(mkCert(t, certSpec{cn: "future", parent: root,
			keyUsage: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			notBefore: testNow.Add(day), notAfter: testNow.Add(400 * day)}))},
		{name: "expired intermediate", want: ReasonExpired, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			old := mkCert(t, certSpec{cn: "old inter", ca: true, parent: root, keyUsage: x509.KeyUsageCertSign,
				notBefore: testNow.Add(-400 * day), notAfter: testNow.Add(-day)})
			s := mkCert(t, certSpec{cn: "s", parent: old, keyUsage: x509.KeyUsageDigitalSignature,
				eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, notBefore: testNow.Add(-300 * day)})
			return signWith(t, s, old), testContent, poolOf(root)
		}},
		{name: "wrong EKU", want: ReasonWrongKeyUsage, build: simple(mkCert(t, certSpec{cn: "tls", parent: root,
			keyUsage: x509.KeyUsageDigitalSignature, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}))},
		{name: "no EKU", want: ReasonWrongKeyUsage, build: simple(mkCert(t, certSpec{cn: "no eku", parent: root,
			keyUsage: x509.KeyUsageDigitalSignature}))},
		{name: "no digitalSignature", want: ReasonWrongKeyUsage, build: simple(mkCert(t, certSpec{cn: "ke", parent: root,
			keyUsage: x509.KeyUsageKeyAgreement, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}))},
		{name: "intermediate restricted to serverAuth", want: ReasonWrongKeyUsage, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			tlsInter := mkCert(t, certSpec{cn: "tls inter", ca: true, parent: root, keyUsage: x509.KeyUsageCertSign,
				eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return signWith(t, mkSigner(t, "s", tlsInter, nil), tlsInter), testContent, poolOf(root)
		}},
		{name: "untrusted root", want: ReasonUntrustedRoot, build: simple(mkSigner(t, "stranger", otherRoot, nil))},
		{name: "intermediate not embedded", want: ReasonUntrustedRoot, build: simple(mkSigner(t, "lonely", inter, nil))},
		{name: "no roots configured", want: ReasonUntrustedRoot, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signWith(t, good), testContent, nil
		}},
		{name: "tampered content", want: ReasonDigestMismatch, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signWith(t, good), tampered, poolOf(root)
		}},
		{name: "tampered content rsa", want: ReasonDigestMismatch, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signWith(t, goodRSA), tampered, poolOf(root)
		}},
		{name: "truncated content, size unknown", want: ReasonDigestMismatch, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signWith(t, good), testContent[:len(testContent)-1], poolOf(root)
		}},
		{name: "truncated content, size known", want: ReasonTruncated, opts: []VerifyOption{WithExpectedSize(int64(len(testContent)))},
			build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
				return signWith(t, good), testContent[:len(testContent)/2], poolOf(root)
			}},
		{name: "longer content, size known", want: ReasonTooLong, opts: []VerifyOption{WithExpectedSize(int64(len(testContent)))},
			build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
				return signWith(t, good), append(bytes.Clone(testContent), 'x'), poolOf(root)
			}},
		{name: "garbage signature", want: ReasonMalformed, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return []byte("this is not DER at all"), testContent, poolOf(root)
		}},
		{name: "empty signature", want: ReasonMalformed, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return nil, testContent, poolOf(root)
		}},
		{name: "truncated signature", want: ReasonMalformed, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			s := signWith(t, good)
			return s[:len(s)-10], testContent, poolOf(root)
		}},
		{name: "trailing bytes after signature", want: ReasonMalformed, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return append(signWith(t, good), 0, 0), testContent, poolOf(root)
		}},
		{name: "corrupted signature value", want: ReasonDigestMismatch, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, func(si *signerInfo) { si.Signature[len(si.Signature)/2] ^= 0xff }, goodRSA), testContent, poolOf(root)
		}},
		{name: "two signers", want: ReasonMultipleSigners, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, nil, good, goodRSA), testContent, poolOf(root)
		}},
		{name: "no signer", want: ReasonNoSigner, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			der, err := marshalSignedData(nil, []*x509.Certificate{good.cert})
			if err != nil {
				t.Fatal(err)
			}
			return der, testContent, poolOf(root)
		}},
		{name: "signer certificate not embedded", want: ReasonSignerCertMissing, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			digest := sha256.Sum256(testContent)
			si, err := newSignerInfo(digest[:], good.cert, good.key)
			if err != nil {
				t.Fatal(err)
			}
			der, err := marshalSignedData([]signerInfo{si}, []*x509.Certificate{goodRSA.cert})
			if err != nil {
				t.Fatal(err)
			}
			return der, testContent, poolOf(root)
		}},
		{name: "signed attributes", want: ReasonSignedAttributes, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, func(si *signerInfo) {
				si.SignedAttrs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x30, 0x00}}
			}, good), testContent, poolOf(root)
		}},
		{name: "sha1 digest algorithm", want: ReasonUnsupported, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, func(si *signerInfo) {
				si.DigestAlgorithm = pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}}
			}, good), testContent, poolOf(root)
		}},
		{name: "signature algorithm does not fit key", want: ReasonUnsupported, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, func(si *signerInfo) {
				si.SignatureAlgorithm = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption()}
			}, good), testContent, poolOf(root)
		}},
		{name: "signer named by subject key identifier", want: ReasonUnsupported, build: func(t *testing.T) ([]byte, []byte, *x509.CertPool) {
			return signInfos(t, func(si *signerInfo) {
				si.Version = 3
				si.SID = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: good.cert.SubjectKeyId}
			}, good), testContent, poolOf(root)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sig, content, roots := tc.build(t)
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			res, err := Verify(context.Background(), sig, bytes.NewReader(content), roots, now, tc.opts...)
			checkVerdict(t, res, err, tc.want)
			if tc.want != "" {
				return
			}
			// The incremental Verifier must agree, fed in uneven pieces.
			v, err := NewVerifier(sig, roots, now, tc.opts...)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			for rest := content; len(rest) > 0; {
				n := min(len(rest), 777)
				if _, err := v.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			res, err = v.Finish()
			checkVerdict(t, res, err, tc.want)
		})
	}
}

func checkVerdict(t *testing.T, res *Result, err error, want Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		d := sha256.Sum256(testContent)
		if res == nil || !bytes.Equal(res.Digest, d[:]) || res.Size != int64(len(testContent)) || len(res.Chains) == 0 {
			t.Fatalf("bad result %+v", res)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted, want refusal %q", want)
	}
	if !errors.Is(err, want) || ReasonOf(err) != want {
		t.Fatalf("refused with %q (%v), want %q", ReasonOf(err), err, want)
	}
	if res != nil {
		t.Fatal("refusal returned a result")
	}
}

// A refusal of the signature itself happens before any content is read.
func TestVerifyRefusesBeforeReadingContent(t *testing.T) {
	root := mkRoot(t, "root")
	sig := signWith(t, mkSigner(t, "stranger", mkRoot(t, "other"), nil))
	r := &countingReader{r: bytes.NewReader(testContent)}
	_, err := Verify(context.Background(), sig, r, poolOf(root), testNow)
	if ReasonOf(err) != ReasonUntrustedRoot {
		t.Fatalf("got %v", err)
	}
	if r.n != 0 {
		t.Fatalf("read %d content bytes before refusing", r.n)
	}
}

func TestVerifyContextAndReadErrors(t *testing.T) {
	root := mkRoot(t, "root")
	sig := signWith(t, mkSigner(t, "s", root, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		content io.Reader
		want    error
	}{
		{"cancelled", ctx, bytes.NewReader(testContent), context.Canceled},
		{"read error", context.Background(), io.MultiReader(bytes.NewReader(testContent[:10]), errReader{}), errBoom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.ctx, sig, tc.content, poolOf(root), testNow)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if ReasonOf(err) != "" {
				t.Fatalf("an I/O failure was reported as a verdict: %v", err)
			}
		})
	}
}

func TestSignRefusesMismatchedKey(t *testing.T) {
	root := mkRoot(t, "root")
	a, b := mkSigner(t, "a", root, nil), mkSigner(t, "b", root, nil)
	if _, err := Sign(context.Background(), bytes.NewReader(testContent), a.cert, b.key, nil); err == nil {
		t.Fatal("Sign accepted a key that does not match the certificate")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }
