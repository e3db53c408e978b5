package imagesign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// Limits on the signature blob. A legitimate signature is a few kilobytes;
// the limits bound the work an attacker can make the parser do.
const (
	// MaxSignatureSize is the largest signature blob accepted.
	MaxSignatureSize = 1 << 20
	maxCertificates  = 16
)

// parsedSignature is the one signer of a detached signature, resolved to its
// certificate, plus the other certificates carried in the CMS.
type parsedSignature struct {
	signer        *x509.Certificate
	intermediates []*x509.Certificate // every embedded certificate but the signer
	signature     []byte
}

// parseSignature decodes a DER detached CMS SignedData and checks that it has
// the one shape podboot, the agent and iPXE all accept. It never reads the
// content. Only DER is accepted (BER, e.g. indefinite lengths, is refused as
// malformed: iPXE refuses it too).
func parseSignature(sig []byte) (*parsedSignature, error) {
	if len(sig) == 0 {
		return nil, refuse(ReasonMalformed, errors.New("empty signature"))
	}
	if len(sig) > MaxSignatureSize {
		return nil, refuse(ReasonMalformed, fmt.Errorf("signature is %d bytes, limit %d", len(sig), MaxSignatureSize))
	}
	var ci contentInfo
	rest, err := asn1.Unmarshal(sig, &ci)
	if err != nil {
		return nil, refuse(ReasonMalformed, fmt.Errorf("decoding ContentInfo: %w", err))
	}
	if len(rest) != 0 {
		return nil, refuse(ReasonMalformed, fmt.Errorf("%d bytes of trailing data after ContentInfo", len(rest)))
	}
	if !ci.ContentType.Equal(oidSignedData()) {
		return nil, refuse(ReasonMalformed, fmt.Errorf("content type %v is not SignedData", ci.ContentType))
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, refuse(ReasonMalformed, errors.New("ContentInfo content is not [0] EXPLICIT"))
	}
	var sd signedData
	rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd)
	if err != nil {
		return nil, refuse(ReasonMalformed, fmt.Errorf("decoding SignedData: %w", err))
	}
	if len(rest) != 0 {
		return nil, refuse(ReasonMalformed, errors.New("trailing data after SignedData"))
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidData()) {
		return nil, refuse(ReasonUnsupported, fmt.Errorf("encapsulated content type %v is not id-data", sd.EncapContentInfo.EContentType))
	}
	if len(sd.EncapContentInfo.EContent.FullBytes) != 0 {
		return nil, refuse(ReasonUnsupported, errors.New("signature is not detached (it embeds the content)"))
	}
	certs, err := parseCertificateSet(sd.Certificates)
	if err != nil {
		return nil, err
	}
	switch n := len(sd.SignerInfos); {
	case n == 0:
		return nil, refuse(ReasonNoSigner, errors.New("SignedData has no SignerInfo"))
	case n > 1:
		return nil, refuse(ReasonMultipleSigners, fmt.Errorf("SignedData has %d signers, want exactly one", n))
	}
	si := sd.SignerInfos[0]
	if len(si.SignedAttrs.FullBytes) != 0 {
		return nil, refuse(ReasonSignedAttributes,
			errors.New("the signer has signed attributes; sign with `openssl cms -sign -binary -noattr` (iPXE imgverify refuses them too)"))
	}
	if !isSHA256(si.DigestAlgorithm) {
		return nil, refuse(ReasonUnsupported, fmt.Errorf("digest algorithm %v is not SHA-256", si.DigestAlgorithm.Algorithm))
	}
	signer, err := findSigner(si.SID, certs)
	if err != nil {
		return nil, err
	}
	if err := checkSignatureAlgorithm(si.SignatureAlgorithm, signer); err != nil {
		return nil, err
	}
	p := &parsedSignature{signer: signer, signature: si.Signature}
	for _, c := range certs {
		if c != signer {
			p.intermediates = append(p.intermediates, c)
		}
	}
	return p, nil
}

// parseCertificateSet parses the [0] IMPLICIT SET OF CertificateChoices.
// Only plain X.509 certificates are accepted.
func parseCertificateSet(set asn1.RawValue) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := set.Bytes
	for len(rest) > 0 {
		if len(certs) == maxCertificates {
			return nil, refuse(ReasonMalformed, fmt.Errorf("more than %d certificates", maxCertificates))
		}
		var raw asn1.RawValue
		var err error
		rest, err = asn1.Unmarshal(rest, &raw)
		if err != nil {
			return nil, refuse(ReasonMalformed, fmt.Errorf("decoding certificate %d: %w", len(certs)+1, err))
		}
		if raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
			return nil, refuse(ReasonUnsupported, fmt.Errorf("certificate %d is not an X.509 certificate", len(certs)+1))
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, refuse(ReasonMalformed, fmt.Errorf("parsing certificate %d: %w", len(certs)+1, err))
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// findSigner resolves the SignerIdentifier to an embedded certificate.
func findSigner(sid asn1.RawValue, certs []*x509.Certificate) (*x509.Certificate, error) {
	switch {
	case sid.Class == asn1.ClassContextSpecific && sid.Tag == 0:
		return nil, refuse(ReasonUnsupported,
			errors.New("signer identified by subject key identifier (openssl -keyid); iPXE needs issuer and serial number"))
	case sid.Class != asn1.ClassUniversal || sid.Tag != asn1.TagSequence:
		return nil, refuse(ReasonMalformed, errors.New("signer identifier is neither issuerAndSerialNumber nor subjectKeyIdentifier"))
	}
	var ias issuerAndSerial
	rest, err := asn1.Unmarshal(sid.FullBytes, &ias)
	if err != nil || len(rest) != 0 || ias.Serial == nil {
		return nil, refuse(ReasonMalformed, fmt.Errorf("decoding issuerAndSerialNumber: %v", err))
	}
	for _, c := range certs {
		if c.SerialNumber.Cmp(ias.Serial) == 0 && bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) {
			return c, nil
		}
	}
	return nil, refuse(ReasonSignerCertMissing,
		fmt.Errorf("no embedded certificate has serial %s from the signer's issuer", ias.Serial.Text(16)))
}

// isSHA256 accepts SHA-256 with absent or NULL parameters.
func isSHA256(a pkix.AlgorithmIdentifier) bool {
	if !a.Algorithm.Equal(oidSHA256()) {
		return false
	}
	p := a.Parameters.FullBytes
	return len(p) == 0 || bytes.Equal(p, asn1.NullBytes)
}

// checkSignatureAlgorithm makes sure the declared algorithm fits the key.
func checkSignatureAlgorithm(a pkix.AlgorithmIdentifier, signer *x509.Certificate) error {
	switch signer.PublicKey.(type) {
	case *rsa.PublicKey:
		if a.Algorithm.Equal(oidRSAEncryption()) || a.Algorithm.Equal(oidSHA256WithRSA()) {
			return nil
		}
	case *ecdsa.PublicKey:
		if a.Algorithm.Equal(oidECDSAWithSHA256()) || a.Algorithm.Equal(oidECPublicKey()) {
			return nil
		}
	default:
		return refuse(ReasonUnsupported, fmt.Errorf("signer key type %T is not RSA or ECDSA", signer.PublicKey))
	}
	return refuse(ReasonUnsupported, fmt.Errorf("signature algorithm %v does not fit the signer's %T key", a.Algorithm, signer.PublicKey))
}
