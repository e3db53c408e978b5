package provision

import (
	"sync"
	"time"
)

// DefaultAgentEventsPerMinute is how many events one host's agent may post a minute
// when the config says nothing. A real install posts a handful.
const DefaultAgentEventsPerMinute = 60

// hostLimiter is a token bucket per host: burst events at once, refilled at
// perMinute a minute. Buckets that are full again are forgotten, so the map holds only
// hosts that posted within the last minute or so.
type hostLimiter struct {
	perMinute float64
	burst     float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens  float64
	at      time.Time
	refused bool // the last call was refused
}

func newHostLimiter(perMinute int) *hostLimiter {
	return &hostLimiter{perMinute: float64(perMinute), burst: float64(perMinute), buckets: map[string]*bucket{}}
}

// allow takes one token of mac's bucket; ok false means the host is over its rate, and
// first says this is the first refusal since it was last allowed (to log once a burst).
func (l *hostLimiter) allow(mac string, now time.Time) (ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		l.sweep(now)
	}
	b, ok := l.buckets[mac]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[mac] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Minutes()*l.perMinute)
	b.at = now
	if b.tokens < 1 {
		first = !b.refused
		b.refused = true
		return false, first
	}
	b.tokens--
	b.refused = false
	return true, false
}

// sweep forgets the buckets that have refilled.
func (l *hostLimiter) sweep(now time.Time) {
	l.swept = now
	for mac, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Minutes()*l.perMinute >= l.burst {
			delete(l.buckets, mac)
		}
	}
}
