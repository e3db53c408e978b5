package tftp

// podboot patch (PODBOOT-PATCH.md): RFC 7440 windowsize for read transfers. The server
// sends up to window DATA blocks, then waits for the ACK of any block it sent: the
// window slides past the acknowledged block and the rest is sent again (a client that
// acknowledges an earlier block saw a gap). A timeout sends the window again, within
// the transfer's retry budget. An ACK of the block before the window sends it again
// with the fixed timeout and is ignored with the RTT-based one (rto.go).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// readFromWindow sends r with the negotiated window (s.window > 1), blocks of
// len(s.send)-4 bytes; it returns the bytes read from r.
func readFromWindow(s *sender, r io.Reader) (int64, error) {
	blk := len(s.send) - 4
	bufs := make([][]byte, s.window)
	for i := range bufs {
		bufs[i] = make([]byte, blk+4)
	}
	lens := make([]int, s.window)
	var n int64
	first := 0        // ring index of the oldest unacknowledged block
	count := 0        // blocks in the window
	base := uint16(1) // block number of the oldest unacknowledged block
	final := false    // the last block (shorter than blk) is in the window
	for {
		for !final && count < s.window {
			i := (first + count) % s.window
			b := bufs[i]
			l, err := io.ReadFull(r, b[4:])
			n += int64(l)
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				s.abort(err)
				return n, err
			}
			binary.BigEndian.PutUint16(b[0:2], opDATA)
			binary.BigEndian.PutUint16(b[2:4], base+uint16(count))
			lens[i] = 4 + l
			count++
			final = l < blk
		}
		acked, err := sendWindowWithRetry(s, bufs, lens, first, count, base)
		if err != nil {
			s.abort(err)
			return n, err
		}
		first = (first + acked) % s.window
		count -= acked
		base += uint16(acked)
		s.block = base - 1
		if final && count == 0 {
			if s.hook != nil {
				s.hook.OnSuccess(s.buildTransferStats())
			}
			return n, nil
		}
	}
}

// sendWindowWithRetry sends the window and waits for an acknowledgement that moves it:
// it returns how many blocks, from base, the client acknowledged (at least one).
func sendWindowWithRetry(s *sender, bufs [][]byte, lens []int, first, count int, base uint16) (int, error) {
	s.retry.reset()
	for {
		s.timeout = s.rtt.rto(s.retry.count())
		start := time.Now()
		acked, err := sendWindow(s, bufs, lens, first, count, base)
		if err == nil && acked > 0 && s.retry.count() == 0 {
			s.rtt.sample(time.Since(start))
		}
		var ne net.Error
		if errors.As(err, &ne) && s.retry.count() < s.retries {
			s.retry.backoff()
			continue
		}
		if err == nil && acked == 0 {
			// Fixed timeout: the client acknowledged the block before the window, so it
			// lost the first one. Send the window again, within the same retry budget as
			// a timeout (a client repeating that ACK cannot make the server send without
			// end).
			if s.retry.count() < s.retries {
				s.retry.backoff()
				continue
			}
			return 0, fmt.Errorf("sending block %d: the client keeps acknowledging block %d", base, base-1)
		}
		return acked, err
	}
}

func sendWindow(s *sender, bufs [][]byte, lens []int, first, count int, base uint16) (int, error) {
	if err := s.conn.setDeadline(s.timeout); err != nil {
		return 0, err
	}
	for k := 0; k < count; k++ {
		i := (first + k) % len(bufs)
		if err := s.conn.sendTo(bufs[i][:lens[i]], s.addr); err != nil {
			return 0, err
		}
		s.datagramsSent++
	}
	for {
		m, addr, err := s.conn.readFrom(s.receive)
		if err != nil {
			return 0, err
		}
		if !addr.IP.Equal(s.addr.IP) || (s.tid != 0 && addr.Port != s.tid) {
			continue
		}
		p, err := parsePacket(s.receive[:m])
		if err != nil {
			continue
		}
		switch p := p.(type) {
		case pACK:
			// Acknowledged blocks from base: block - base + 1, modulo 2^16. An ACK of
			// the block before the window (d = 0) is not acted on: it is mostly a late
			// duplicate (the client answering an earlier copy of the previous window),
			// and a client that really lost the window's first block is served by the
			// retransmit timeout, which follows the RTT (rto.go). Acting on each one
			// made duplicates breed resends until the retries ran out.
			// With a fixed timeout (no estimator) such an ACK sends the window again.
			d := int(uint16(p.block() - base + 1))
			if d == 0 && s.rtt.min <= 0 {
				return 0, nil
			}
			if d >= 1 && d <= count {
				s.datagramsAcked++
				return d, nil
			}
		case pERROR:
			return 0, fmt.Errorf("sending block %d: code=%d, error: %s", base, p.code(), p.message())
		}
	}
}
