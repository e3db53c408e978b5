// Package ratelog rate-limits the log of events that come in floods (refused forged
// packets, transfers refused for lack of slots): at most one record a second at Warn,
// the rest at Debug, and each Warn record says how many went to Debug since the last.
// A flood then cannot fill the log, yet it stays visible.
package ratelog

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// WarnEvery is the least time between two records at Warn.
const WarnEvery = time.Second

// Limiter picks the level of each event. Lock-free: it is used on packet paths. The zero
// value is ready.
type Limiter struct {
	next       atomic.Int64 // unix nanoseconds from which the next Warn may be written
	suppressed atomic.Int64
}

// Level is the level of an event at now, and how many events went to Debug before it
// (non-zero only with Warn).
func (l *Limiter) Level(now time.Time) (slog.Level, int64) {
	n := l.next.Load()
	if now.UnixNano() < n || !l.next.CompareAndSwap(n, now.Add(WarnEvery).UnixNano()) {
		l.suppressed.Add(1)
		return slog.LevelDebug, 0
	}
	return slog.LevelWarn, l.suppressed.Swap(0)
}
