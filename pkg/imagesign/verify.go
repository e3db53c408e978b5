package imagesign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Result describes an accepted signature.
type Result struct {
	// Signer is the certificate that signed the content.
	Signer *x509.Certificate
	// Chains are the verified chains from Signer to a trusted root.
	Chains [][]*x509.Certificate
	// Digest is the SHA-256 of the content.
	Digest []byte
	// Size is the number of content bytes hashed.
	Size int64
}

// VerifyOption tunes Verify and NewVerifier.
type VerifyOption func(*verifyOptions)

type verifyOptions struct{ expectedSize int64 }

// WithExpectedSize declares the content length when it is known (an HTTP
// Content-Length, a stored file size): shorter content is refused with
// ReasonTruncated and longer content with ReasonTooLong, rather than both
// ending as a digest mismatch.
func WithExpectedSize(n int64) VerifyOption {
	return func(o *verifyOptions) { o.expectedSize = n }
}

// Verify checks a detached signature over content, streaming the content
// through SHA-256 (memory does not grow with it). Trust is evaluated at now
// (time.Now() if zero), never at a signing time. A refusal is a *VerifyError
// whose Reason can be tested with errors.Is(err, ReasonX); any other error
// (reading content, ctx cancelled) is not a verdict on the signature.
//
// The signature is parsed and the signer's chain checked before any content
// is read, so a bad signature is refused without consuming the content.
func Verify(ctx context.Context, sig []byte, content io.Reader, roots *x509.CertPool, now time.Time, opts ...VerifyOption) (*Result, error) {
	v, err := NewVerifier(sig, roots, now, opts...)
	if err != nil {
		return nil, err
	}
	if _, err := copyWithContext(ctx, v, content); err != nil {
		if ReasonOf(err) != "" {
			return nil, err
		}
		return nil, fmt.Errorf("verifying signature: %w", err)
	}
	return v.Finish()
}

// Verifier checks a detached signature over content fed to it incrementally,
// for instance while an upload is streamed to disk through an
// io.MultiWriter. Create it with NewVerifier, Write the content, then call
// Finish. It is not safe for concurrent use.
type Verifier struct {
	parsed   *parsedSignature
	chains   [][]*x509.Certificate
	h        hash.Hash
	n        int64
	expected int64 // -1 when unknown
	err      error // sticky refusal from Write
}

// NewVerifier parses sig and checks the signer's certificate chain at now
// (time.Now() if zero) up front, so that an upload with a bad signature can be
// refused before its body is read. The content digest is checked by Finish.
func NewVerifier(sig []byte, roots *x509.CertPool, now time.Time, opts ...VerifyOption) (*Verifier, error) {
	o := verifyOptions{expectedSize: -1}
	for _, f := range opts {
		f(&o)
	}
	if now.IsZero() {
		now = time.Now()
	}
	p, err := parseSignature(sig)
	if err != nil {
		return nil, err
	}
	chains, err := checkTrust(p.signer, p.intermediates, roots, now)
	if err != nil {
		return nil, err
	}
	return &Verifier{parsed: p, chains: chains, h: sha256.New(), expected: o.expectedSize}, nil
}

// Write hashes p. It refuses with ReasonTooLong once more bytes than the
// expected size have been written.
func (v *Verifier) Write(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.expected >= 0 && v.n+int64(len(p)) > v.expected {
		v.err = refuse(ReasonTooLong, fmt.Errorf("more than the expected %d bytes", v.expected))
		return 0, v.err
	}
	v.h.Write(p)
	v.n += int64(len(p))
	return len(p), nil
}

// Finish checks the signature over the digest of everything written and
// returns the Result on success.
func (v *Verifier) Finish() (*Result, error) {
	if v.err != nil {
		return nil, v.err
	}
	if v.expected >= 0 && v.n < v.expected {
		return nil, refuse(ReasonTruncated, fmt.Errorf("got %d of %d bytes", v.n, v.expected))
	}
	digest := v.h.Sum(nil)
	if err := checkSignature(v.parsed.signer, digest, v.parsed.signature); err != nil {
		return nil, err
	}
	return &Result{Signer: v.parsed.signer, Chains: v.chains, Digest: digest, Size: v.n}, nil
}

// checkSignature verifies a no-signed-attributes signature: it is over the
// content digest itself.
func checkSignature(signer *x509.Certificate, digest, sig []byte) error {
	var err error
	switch pub := signer.PublicKey.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			err = errors.New("ECDSA signature does not verify")
		}
	default:
		err = fmt.Errorf("unsupported key type %T", pub)
	}
	if err != nil {
		return refuse(ReasonDigestMismatch, fmt.Errorf("signature does not match the content's SHA-256 %x: %w", digest, err))
	}
	return nil
}
