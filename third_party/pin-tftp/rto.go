package tftp

// podboot patch (PODBOOT-PATCH.md): the retransmit timeout of a read transfer follows the
// measured round trip (RFC 6298's estimator, Karn's rule) instead of a fixed value, so a
// lost block on a 100 ms path waits a few hundred ms rather than the configured second,
// and a path slower than that second is not flooded with early retransmissions.

import "time"

// rtoEstimator keeps one transfer's smoothed round trip. The zero value (min 0) is off:
// rto returns the configured timeout unchanged.
type rtoEstimator struct {
	min, max time.Duration // bounds of the timeout; min 0: no estimation
	initial  time.Duration // the timeout before the first sample
	srtt     time.Duration
	rttvar   time.Duration
	samples  int
}

// sample records the round trip of an exchange that was not retransmitted (Karn: the
// ACK of a retransmitted packet cannot tell which copy it answers).
func (e *rtoEstimator) sample(r time.Duration) {
	if e.min <= 0 {
		return
	}
	if e.samples == 0 {
		e.srtt, e.rttvar = r, r/2
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.samples++
}

// rto is the timeout for attempt (0: first send) of an exchange: SRTT + 4·RTTVAR within
// [min, max], doubled for each retransmission (RFC 6298 5.5), never above max.
func (e *rtoEstimator) rto(attempt int) time.Duration {
	if e.min <= 0 || e.samples == 0 {
		return e.initial
	}
	t := max(e.min, e.srtt+4*e.rttvar)
	for i := 0; i < attempt && t < e.max; i++ {
		t *= 2
	}
	return min(t, e.max)
}
