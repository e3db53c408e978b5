package api

import (
	"context"
	"io"
	"net/http"
	"time"
)

// StreamChunk is the upload rate floor: a streaming upload must bring at least
// StreamChunk bytes every body timeout (64 KiB per 30 s by default, about 2 KiB/s),
// however long it takes in total.
const StreamChunk = 64 << 10

type bodyTimeoutKey struct{}

// bodyTimeoutOf is the body timeout Server.Handler put in the request's context.
func bodyTimeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(bodyTimeoutKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return DefaultBodyTimeout
}

// StreamBody wraps an upload's body so that its read deadline moves forward while bytes
// keep arriving: each StreamChunk bytes received give the client another body timeout.
// A multi-GiB push is never cut for its total time, and a client that stalls is cut
// within one body timeout. At the end of the body the deadline is lifted.
func StreamBody(w http.ResponseWriter, r *http.Request, body io.Reader) io.Reader {
	rc := http.NewResponseController(w)
	window := bodyTimeoutOf(r.Context())
	_ = rc.SetReadDeadline(time.Now().Add(window))
	return &streamBody{r: body, rc: rc, window: window}
}

type streamBody struct {
	r      io.Reader
	rc     *http.ResponseController
	window time.Duration
	got    int
	done   bool
}

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.got += n
	if s.got >= StreamChunk {
		s.got = 0
		_ = s.rc.SetReadDeadline(time.Now().Add(s.window))
	}
	if err == io.EOF && !s.done {
		s.done = true
		_ = s.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
