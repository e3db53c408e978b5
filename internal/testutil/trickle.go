package testutil

import (
	"io"
	"time"
)

// Trickle is a slow client's request body: it hands out B in chunks of Chunk bytes,
// waiting Every before each chunk after the first.
type Trickle struct {
	B     []byte
	Chunk int
	Every time.Duration
	sent  bool
}

func (r *Trickle) Read(p []byte) (int, error) {
	if len(r.B) == 0 {
		return 0, io.EOF
	}
	if r.sent {
		time.Sleep(r.Every) // the slow client itself, not synchronisation
	}
	r.sent = true
	n := copy(p[:min(len(p), r.Chunk)], r.B)
	r.B = r.B[n:]
	return n, nil
}
