package imagesign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// checkTrust decides whether signer may sign images at time now: it must be
// inside its validity window, carry keyUsage digitalSignature and EKU
// codeSigning explicitly, and chain through the embedded intermediates to one
// of roots, every certificate of the chain being valid at now. The signing
// time a signer might claim is never consulted.
func checkTrust(signer *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, now time.Time) ([][]*x509.Certificate, error) {
	if roots == nil {
		return nil, refuse(ReasonUntrustedRoot, errors.New("no trusted root configured"))
	}
	if now.Before(signer.NotBefore) || now.After(signer.NotAfter) {
		return nil, refuse(ReasonExpired, fmt.Errorf("signer %q is valid from %s to %s, not at %s",
			signer.Subject.CommonName, signer.NotBefore.UTC().Format(time.RFC3339),
			signer.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if signer.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, refuse(ReasonWrongKeyUsage, fmt.Errorf("signer %q lacks keyUsage digitalSignature", signer.Subject.CommonName))
	}
	// x509 treats a certificate without EKU as good for anything; podboot
	// wants codeSigning spelled out, as iPXE does.
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return nil, refuse(ReasonWrongKeyUsage, fmt.Errorf("signer %q lacks extended key usage codeSigning", signer.Subject.CommonName))
	}
	pool := x509.NewCertPool()
	for _, c := range intermediates {
		pool.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	if err != nil {
		return nil, classifyChainError(err)
	}
	return chains, nil
}

// classifyChainError maps an x509 verification failure onto a Reason.
func classifyChainError(err error) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return refuse(ReasonExpired, err)
		case x509.IncompatibleUsage:
			return refuse(ReasonWrongKeyUsage, err)
		}
	}
	return refuse(ReasonUntrustedRoot, err)
}
