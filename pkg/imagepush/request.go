package imagepush

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagesign"
)

// pushRequest is what the headers of a push say, checked before the body is read.
type pushRequest struct {
	meta      artifact.Meta
	length    int64  // Content-Length of the body
	signature []byte // DER
	digest    []byte // declared SHA-256, nil if not declared
}

func (p pushRequest) ref() string { return p.meta.Name + "@" + p.meta.Version }

// parseRequest checks everything a push says in its path and headers. maxBytes is the
// upload limit. It reads no body.
func parseRequest(r *http.Request, maxBytes int64) (pushRequest, error) {
	p := pushRequest{meta: artifact.Meta{
		Name:    r.PathValue("name"),
		Version: r.PathValue("version"),
		Kind:    artifact.Kind(r.URL.Query().Get("kind")),
	}}
	if p.meta.Kind == "" {
		p.meta.Kind = artifact.KindStage2
	}
	if err := artifact.ValidName("image name", p.meta.Name); err != nil {
		return p, statusErr(http.StatusBadRequest, err)
	}
	if err := artifact.ValidName("image version", p.meta.Version); err != nil {
		return p, statusErr(http.StatusBadRequest, err)
	}
	if !artifact.ValidKind(p.meta.Kind) {
		return p, statusErr(http.StatusBadRequest, fmt.Errorf("kind %q: use stage2, kernel, initrd, bootloader or package", p.meta.Kind))
	}
	p.length = r.ContentLength
	switch {
	case p.length < 0:
		return p, statusErr(http.StatusLengthRequired, errors.New("a push needs a Content-Length: send the image as a file, not a stream"))
	case p.length > maxBytes:
		return p, statusErr(http.StatusRequestEntityTooLarge, fmt.Errorf("image is %d bytes; this server accepts at most %d (images.maxUploadBytes)", p.length, maxBytes))
	}
	if err := checkDeclaredSize(r.Header.Get(HeaderImageSize), p.length); err != nil {
		return p, err
	}
	sig := strings.TrimSpace(r.Header.Get(HeaderSignature))
	if sig == "" {
		return p, statusErr(http.StatusBadRequest, fmt.Errorf("no signature: send the detached CMS signature, base64 DER, in the %s header", HeaderSignature))
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return p, statusErr(http.StatusBadRequest, fmt.Errorf("%s header is not standard base64: %w", HeaderSignature, err))
	}
	p.signature = der
	p.meta.Signature = der
	if d := r.Header.Get(HeaderContentSHA256); d != "" {
		b, err := hex.DecodeString(d)
		if err != nil || len(b) != 32 {
			return p, statusErr(http.StatusBadRequest, fmt.Errorf("%s %q is not 64 hex digits", HeaderContentSHA256, d))
		}
		p.digest = b
	}
	return p, nil
}

// checkDeclaredSize compares the signed image's declared size with the body length: a
// shorter body is a truncated file, refused with imagesign's reason before it is sent.
func checkDeclaredSize(declared string, length int64) error {
	if declared == "" {
		return nil
	}
	n, err := strconv.ParseInt(declared, 10, 64)
	if err != nil || n < 0 {
		return statusErr(http.StatusBadRequest, fmt.Errorf("%s %q is not a byte count", HeaderImageSize, declared))
	}
	switch {
	case length < n:
		return &imagesign.VerifyError{Reason: imagesign.ReasonTruncated, Err: fmt.Errorf("the upload has %d of the image's %d bytes", length, n)}
	case length > n:
		return &imagesign.VerifyError{Reason: imagesign.ReasonTooLong, Err: fmt.Errorf("the upload has %d bytes, the image %d", length, n)}
	}
	return nil
}
