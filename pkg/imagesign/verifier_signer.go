package imagesign

import "crypto/x509"

// Signer is the certificate whose chain NewVerifier already checked. The
// content is not verified until Finish succeeds: use it to name the signer in
// a record that is committed only after Finish, never to decide trust.
func (v *Verifier) Signer() *x509.Certificate { return v.parsed.signer }
