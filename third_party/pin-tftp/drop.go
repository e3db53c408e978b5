package tftp

import "errors"

// ErrNoResponse, returned by a read handler, ends the request without an answer: no
// ERROR packet goes out and the transfer's socket is closed, so the client retransmits
// its request as if it had been lost (podboot patch: a server at its transfer limit
// lets PXE ROMs come back later instead of making them give up).
var ErrNoResponse = errors.New("tftp: request dropped without a response")

// drop closes the transfer's connection without sending anything.
func (s *sender) drop() {
	if s.conn == nil {
		return
	}
	s.conn.close()
	s.conn = nil
}
