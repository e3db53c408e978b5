package imagesign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary signature blobs through the CMS parsing and
// verification path. It must never panic, and must never accept a signature
// that does not chain to the fuzz root. The seed corpus of malformed
// signatures lives in testdata/fuzz/FuzzVerify (regenerate it with
// IMAGESIGN_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus).
func FuzzVerify(f *testing.F) {
	root := mkRoot(f, "fuzz root")
	signer := mkSigner(f, "fuzz signer", root, nil)
	for _, seed := range fuzzSeeds(f, root, signer) {
		f.Add(seed.data)
	}
	roots := poolOf(root)
	f.Fuzz(func(t *testing.T, sig []byte) {
		res, err := Verify(context.Background(), sig, bytes.NewReader(testContent), roots, testNow)
		if err == nil {
			if res == nil || res.Signer == nil {
				t.Fatal("accepted without a result")
			}
			if _, err := res.Signer.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
				t.Fatalf("accepted a signer that does not chain to the root: %v", err)
			}
			return
		}
		if ReasonOf(err) == "" {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

type fuzzSeed struct {
	name string
	data []byte
}

// fuzzSeeds derives malformed signatures from a valid one.
func fuzzSeeds(tb testing.TB, root, signer *testCert) []fuzzSeed {
	tb.Helper()
	digest := sha256.Sum256(testContent)
	si, err := newSignerInfo(digest[:], signer.cert, signer.key)
	if err != nil {
		tb.Fatal(err)
	}
	valid, err := marshalSignedData([]signerInfo{si}, []*x509.Certificate{signer.cert})
	if err != nil {
		tb.Fatal(err)
	}
	withInfos := func(infos []signerInfo, certs ...*x509.Certificate) []byte {
		b, err := marshalSignedData(infos, certs)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	replace := func(old, new []byte) []byte { return bytes.Replace(valid, old, new, 1) }
	sidSKI, attrs, sha1 := si, si, si
	sidSKI.SID = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: []byte{1, 2, 3}}
	attrs.SignedAttrs = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: []byte{0x30, 0x00}}
	sha1.DigestAlgorithm.Algorithm = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

	oidSD, _ := asn1.Marshal(oidSignedData())
	oidD, _ := asn1.Marshal(oidData())
	oidEnveloped, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3})
	oidOther, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 3, 4})

	seeds := []fuzzSeed{
		{"valid", valid},
		{"empty", nil},
		{"single-byte", []byte{0x30}},
		{"truncated-10", valid[:10]},
		{"truncated-half", valid[:len(valid)/2]},
		{"truncated-last-byte", valid[:len(valid)-1]},
		{"trailing-garbage", append(bytes.Clone(valid), 0xde, 0xad)},
		{"outer-oid-data", replace(oidSD, oidD)},
		{"outer-oid-enveloped", replace(oidSD, oidEnveloped)},
		{"econtent-type-other", bytes.Replace(valid, oidD, oidOther, 1)},
		{"huge-length-outer", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06, 0x09}},
		{"huge-length-8-bytes", []byte{0x30, 0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}},
		{"indefinite-length-ber", append([]byte{0x30, 0x80}, append(valid[2:], 0, 0)...)},
		{"nested-indefinite", bytes.Repeat([]byte{0x30, 0x80}, 500)},
		{"deep-nesting", bytes.Repeat([]byte{0xa0, 0x82, 0x00, 0x00}, 300)},
		{"no-signer", withInfos(nil, signer.cert)},
		{"two-signers", withInfos([]signerInfo{si, si}, signer.cert)},
		{"no-certificates", withInfos([]signerInfo{si})},
		{"garbage-certificate", withInfos([]signerInfo{si}, &x509.Certificate{Raw: []byte{0x30, 0x03, 0x02, 0x01, 0x00}})},
		{"sid-ski", withInfos([]signerInfo{sidSKI}, signer.cert)},
		{"signed-attrs", withInfos([]signerInfo{attrs}, signer.cert)},
		{"digest-sha1", withInfos([]signerInfo{sha1}, signer.cert)},
		{"root-as-signer-cert", withInfos([]signerInfo{si}, root.cert)},
	}
	// Flip one byte at a few positions inside the valid signature.
	for _, pos := range []int{1, 5, 20, len(valid) / 3, len(valid) - 5} {
		b := bytes.Clone(valid)
		b[pos] ^= 0x80
		seeds = append(seeds, fuzzSeed{fmt.Sprintf("bitflip-%d", pos), b})
	}
	return seeds
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzVerify when
// IMAGESIGN_WRITE_CORPUS=1; otherwise it checks the corpus is present.
func TestWriteFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if os.Getenv("IMAGESIGN_WRITE_CORPUS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("seed corpus %s missing; regenerate with IMAGESIGN_WRITE_CORPUS=1", dir)
		}
		return
	}
	root := mkRoot(t, "fuzz root")
	seeds := fuzzSeeds(t, root, mkSigner(t, "fuzz signer", root, nil))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
