package imagesign

import "errors"

// Reason names why a signature was refused. A Reason is itself an error, so
// errors.Is(err, imagesign.ReasonExpired) tells a caller what went wrong, and
// ReasonOf extracts it for logs, metrics and API responses.
type Reason string

// The refusal reasons. Their text is stable: it is shown to operators and
// may be matched by scripts.
const (
	ReasonMalformed         Reason = "malformed signature"
	ReasonUnsupported       Reason = "unsupported signature format"
	ReasonSignedAttributes  Reason = "signed attributes present"
	ReasonNoSigner          Reason = "no signer"
	ReasonMultipleSigners   Reason = "more than one signer"
	ReasonSignerCertMissing Reason = "signer certificate missing"
	ReasonUntrustedRoot     Reason = "untrusted root"
	ReasonWrongKeyUsage     Reason = "wrong key usage"
	ReasonExpired           Reason = "expired or not yet valid"
	ReasonDigestMismatch    Reason = "digest mismatch"
	ReasonTruncated         Reason = "truncated file"
	ReasonTooLong           Reason = "content longer than expected"
)

// Error makes a Reason usable as a sentinel with errors.Is.
func (r Reason) Error() string { return string(r) }

// VerifyError is a refusal: the Reason and the detail behind it.
type VerifyError struct {
	Reason Reason
	Err    error // detail; may be nil
}

func (e *VerifyError) Error() string {
	if e.Err == nil {
		return "signature refused: " + string(e.Reason)
	}
	return "signature refused: " + string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap exposes both the Reason (for errors.Is) and the detail.
func (e *VerifyError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// ReasonOf returns the Reason of a refusal, or "" if err is not one (an I/O
// error or a cancelled context, for instance).
func ReasonOf(err error) Reason {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return ""
}

// refuse builds a VerifyError.
func refuse(r Reason, detail error) error { return &VerifyError{Reason: r, Err: detail} }
