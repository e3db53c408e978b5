package ratelog

import (
	"log/slog"
	"testing"
	"time"
)

// TestLimiter: one Warn per second at most, the rest at Debug, and the next Warn says
// how many went to Debug.
func TestLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		level      slog.Level
		suppressed int64
	}{
		{0, slog.LevelWarn, 0},
		{10 * time.Millisecond, slog.LevelDebug, 0},
		{500 * time.Millisecond, slog.LevelDebug, 0},
		{999 * time.Millisecond, slog.LevelDebug, 0},
		{time.Second, slog.LevelWarn, 3},
		{1500 * time.Millisecond, slog.LevelDebug, 0},
		{5 * time.Second, slog.LevelWarn, 1},
	}
	for _, s := range steps {
		lvl, n := l.Level(t0.Add(s.at))
		if lvl != s.level || n != s.suppressed {
			t.Errorf("at %v: %v with %d suppressed, want %v with %d", s.at, lvl, n, s.level, s.suppressed)
		}
	}
}
