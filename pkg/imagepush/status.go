package imagepush

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagesign"
)

// httpError carries the status a failure answers with.
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func statusErr(status int, err error) error { return &httpError{status: status, err: err} }

// HTTP 507 has a name in net/http; keep the intent obvious where it is used.
const statusDiskFull = http.StatusInsufficientStorage

// classify picks the status and the refusal reason (if any) for a failed push, and the
// message the client sees. Server faults (500) get a message without internals.
func classify(err error) (status int, reason imagesign.Reason, msg string) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch r := imagesign.ReasonOf(err); {
	case r != "":
		var ve *imagesign.VerifyError
		errors.As(err, &ve)
		return http.StatusUnprocessableEntity, r, ve.Error()
	case errors.As(err, &he):
		return he.status, "", he.err.Error()
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "", fmt.Sprintf("upload is larger than %d bytes (images.maxUploadBytes)", mbe.Limit)
	case errors.Is(err, artifact.ErrConflict):
		return http.StatusConflict, "", err.Error()
	case errors.Is(err, artifact.ErrNotReplicated):
		return http.StatusServiceUnavailable, "", err.Error()
	case errors.Is(err, artifact.ErrInvalid):
		return http.StatusBadRequest, "", err.Error()
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return statusDiskFull, "", "the server's artifact store is out of disk space; nothing was stored: free space under DATA_DIR/artifacts (or lower images.maxUploadBytes) and push again"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "", "the upload stalled: it must bring 64 KiB every api.bodyTimeout; nothing was stored"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return http.StatusBadRequest, "", "the upload ended before Content-Length bytes arrived; nothing was stored"
	}
	return http.StatusInternalServerError, "", "internal error storing the image; nothing was stored; see the server log"
}
