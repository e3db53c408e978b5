package imagesign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
)

// Sign reads content to its end and returns a detached CMS SignedData (DER):
// SHA-256, one signer identified by issuer and serial number, no signed
// attributes, and the signer plus chain certificates embedded.
//
// Without signed attributes the signature is computed over the content digest
// directly, so the content is streamed through SHA-256 and never held in
// memory. key must be an RSA (PKCS #1 v1.5) or ECDSA key matching signer.
// chain lists intermediates (a root may be included; it does no harm).
func Sign(ctx context.Context, content io.Reader, signer *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	if signer == nil || key == nil {
		return nil, errors.New("signing: signer certificate and key are required")
	}
	if !keyMatchesCert(key, signer) {
		return nil, fmt.Errorf("signing: private key does not match certificate %q", signer.Subject)
	}
	h := sha256.New()
	if _, err := copyWithContext(ctx, h, content); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	der, err := signDigest(h.Sum(nil), signer, key, chain)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return der, nil
}

// signDigest builds the SignedData for a precomputed SHA-256 content digest.
func signDigest(digest []byte, signer *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) ([]byte, error) {
	si, err := newSignerInfo(digest, signer, key)
	if err != nil {
		return nil, err
	}
	certs := []*x509.Certificate{signer}
	for _, c := range chain {
		if c != nil && !c.Equal(signer) {
			certs = append(certs, c)
		}
	}
	return marshalSignedData([]signerInfo{si}, certs)
}

// newSignerInfo signs digest with key and describes the result.
func newSignerInfo(digest []byte, signer *x509.Certificate, key crypto.Signer) (signerInfo, error) {
	var sigAlg pkix.AlgorithmIdentifier
	switch key.Public().(type) {
	case *rsa.PublicKey:
		// rsaEncryption with NULL parameters: what openssl cms writes and
		// what every iPXE with image trust understands.
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption(), Parameters: asn1.NullRawValue}
	case *ecdsa.PublicKey:
		sigAlg = pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256()}
	default:
		return signerInfo{}, fmt.Errorf("unsupported key type %T (want RSA or ECDSA)", key.Public())
	}
	sig, err := key.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return signerInfo{}, fmt.Errorf("computing signature: %w", err)
	}
	sid, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: signer.RawIssuer}, Serial: signer.SerialNumber})
	if err != nil {
		return signerInfo{}, fmt.Errorf("encoding signer identifier: %w", err)
	}
	return signerInfo{
		Version:            1,
		SID:                asn1.RawValue{FullBytes: sid},
		DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: oidSHA256(), Parameters: asn1.NullRawValue},
		SignatureAlgorithm: sigAlg,
		Signature:          sig,
	}, nil
}

// marshalSignedData wraps signer infos and certificates into a DER
// ContentInfo with a detached id-data content.
func marshalSignedData(signers []signerInfo, certs []*x509.Certificate) ([]byte, error) {
	var raw bytes.Buffer
	for _, c := range certs {
		raw.Write(c.Raw)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: oidSHA256(), Parameters: asn1.NullRawValue}},
		EncapContentInfo: encapContentInfo{EContentType: oidData()},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw.Bytes()},
		SignerInfos:      signers,
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("encoding SignedData: %w", err)
	}
	der, err := asn1.Marshal(contentInfo{ContentType: oidSignedData(), Content: asn1.RawValue{FullBytes: explicitTag0(inner)}})
	if err != nil {
		return nil, fmt.Errorf("encoding ContentInfo: %w", err)
	}
	return der, nil
}

// explicitTag0 wraps DER in a [0] EXPLICIT tag.
func explicitTag0(inner []byte) []byte {
	b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	return b
}
