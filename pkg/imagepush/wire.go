package imagepush

import (
	"net/url"

	"github.com/podboot/podboot/pkg/artifact"
)

// The push wire format (documented in docs/signing.md). The body of
//
//	PUT /api/v1/images/{name}/{version}?kind=stage2
//
// is the image itself, with a Content-Length; everything the server checks before
// reading it travels in headers.
const (
	// HeaderSignature carries the detached CMS signature, DER, standard base64.
	HeaderSignature = "Podboot-Signature"
	// HeaderContentSHA256 optionally declares the SHA-256 (hex) of the body, so the
	// server can answer "already present" or "version exists" without the body.
	HeaderContentSHA256 = "Podboot-Content-Sha256"
	// HeaderImageSize optionally declares the size of the signed image (from a build
	// manifest, say): a body of another length is refused as a truncated file (or a
	// longer one) before it is read.
	HeaderImageSize = "Podboot-Image-Size"
)

// RoutePattern is the push route, for api.Route.
const RoutePattern = "/api/v1/images/{name}/{version}"

// Path is the request path for name and version.
func Path(name, version string) string {
	return "/api/v1/images/" + url.PathEscape(name) + "/" + url.PathEscape(version)
}

// Result answers a successful push: 201 with Created true when it stored the image,
// 200 with Created false when the same content was already there.
type Result struct {
	Image   artifact.Artifact `json:"image"`
	Created bool              `json:"created"`
}

// ErrorBody answers a failed push. Reason is set when the signature was refused and
// is one of imagesign's Reason texts ("digest mismatch", "untrusted root", ...).
type ErrorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}
