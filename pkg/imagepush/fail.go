package imagepush

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// drainTimeout bounds how long a failed push keeps reading a body nobody will store,
// so that the client reads the answer rather than a reset connection.
const drainTimeout = 30 * time.Second

// fail answers a failed push with its status and reason, logs it, and when the body was
// being read (body != nil) drains what is left of it. The store has already removed
// its temporary file; on a full disk fail also collects a blob a half-finished commit
// may have left, so nothing partial stays.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, a podmgr.Actor, p pushRequest, err error, body *countingReader) {
	status, reason, msg := classify(err)
	attrs := []any{"ref", p.ref(), "status", status, "actor", a.Name, "source", a.Source, "err", err}
	if reason != "" {
		attrs = append(attrs, "reason", string(reason))
	}
	if body != nil {
		attrs = append(attrs, "received", body.n, "size", p.length)
	}
	switch {
	case status == statusDiskFull:
		if n, gcErr := h.store.GC(); gcErr != nil || n > 0 {
			attrs = append(attrs, "collected_blobs", n, "gc_err", gcErr)
		}
		h.log.Error("image push failed: disk full", attrs...)
	case status >= 500:
		h.log.Error("image push failed", attrs...)
	default:
		h.log.Warn("image push refused", attrs...)
	}
	stalled := errors.Is(err, os.ErrDeadlineExceeded)
	if stalled {
		w.Header().Set("Connection", "close") // a stalled client is not waited for again
	}
	api.WriteJSON(w, status, ErrorBody{Error: msg, Reason: string(reason)})
	if body == nil || body.n >= p.length || stalled {
		return
	}
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.Copy(io.Discard, body)
}
