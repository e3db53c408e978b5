package api

import (
	"io"
	"net/http"
	"time"
)

// Upload rate floor: a streaming upload must bring at least StreamChunk bytes every
// StreamWindow (64 KiB per 30 s, about 2 KiB/s), however long it takes in total.
const (
	StreamChunk  = 64 << 10
	StreamWindow = 30 * time.Second
)

// StreamBody wraps an upload's body so that its read deadline moves forward while bytes
// keep arriving: each StreamChunk bytes received give the client another StreamWindow.
// A multi-GiB push is never cut for its total time, and a client that stalls is cut
// within StreamWindow. At the end of the body the deadline is lifted.
func StreamBody(w http.ResponseWriter, body io.Reader) io.Reader {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(StreamWindow))
	return &streamBody{r: body, rc: rc}
}

type streamBody struct {
	r    io.Reader
	rc   *http.ResponseController
	got  int
	done bool
}

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.got += n
	if s.got >= StreamChunk {
		s.got = 0
		_ = s.rc.SetReadDeadline(time.Now().Add(StreamWindow))
	}
	if err == io.EOF && !s.done {
		s.done = true
		_ = s.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
