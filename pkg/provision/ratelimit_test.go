package provision

import (
	"testing"
	"time"
)

func TestHostLimiter(t *testing.T) {
	l := newHostLimiter(10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allowed := func(mac string, at time.Time, n int) int {
		got := 0
		for range n {
			if ok, _ := l.allow(mac, at); ok {
				got++
			}
		}
		return got
	}
	tests := []struct {
		name string
		mac  string
		at   time.Duration
		n    int
		want int
	}{
		{"burst up to the rate", "a", 0, 25, 10},
		{"another host is not affected", "b", 0, 5, 5},
		{"refills with time", "a", 30 * time.Second, 25, 5},
		{"full again after a minute", "a", 2 * time.Minute, 25, 10},
	}
	for _, tt := range tests {
		if got := allowed(tt.mac, t0.Add(tt.at), tt.n); got != tt.want {
			t.Errorf("%s: %d of %d allowed, want %d", tt.name, got, tt.n, tt.want)
		}
	}
	l.allow("c", t0.Add(10*time.Minute)) // sweeps the refilled buckets
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after the sweep, want only the new one", len(l.buckets))
	}
}
