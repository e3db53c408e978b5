package imagesign

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
)

// The ASN.1 shapes of RFC 5652 that podboot reads and writes. Only the subset
// iPXE and the agent accept is modelled: a detached SignedData whose signers
// are identified by issuer and serial number.

// OIDs, as functions so that no caller can mutate a shared slice.
func oidData() asn1.ObjectIdentifier       { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1} }
func oidSignedData() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2} }
func oidSHA256() asn1.ObjectIdentifier     { return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1} }
func oidRSAEncryption() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
}
func oidSHA256WithRSA() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
}
func oidECDSAWithSHA256() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
}
func oidECPublicKey() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} }

// contentInfo is the outer wrapper: ContentInfo ::= SEQUENCE { contentType,
// content [0] EXPLICIT ANY }.
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // the [0] EXPLICIT wrapper, checked by hand
}

// signedData is SignedData. Certificates and CRLs are [0]/[1] IMPLICIT SET OF,
// kept raw so that certificates are parsed one by one.
type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

// encapContentInfo has no eContent in a detached signature.
type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
}

// signerInfo is SignerInfo. SID is kept raw: it is either an
// IssuerAndSerialNumber SEQUENCE or a [0] SubjectKeyIdentifier.
type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

// issuerAndSerial is IssuerAndSerialNumber; Issuer stays raw so that it
// compares byte for byte with a certificate's RawIssuer.
type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}
