package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeProber is a store that can say whether it serves now (etcd: a leader answers).
// bbolt is a local file: it has no degraded mode.
type storeProber interface {
	Health(ctx context.Context) error
}

// health is what /healthz says: ok, or degraded while the store cannot be reached or
// cannot commit. Degraded is not down: reads from memory, DHCP answers that need no
// commit, TFTP and HTTP keep serving, and the state clears by itself when the store is
// back. /healthz answers 503 while degraded, so a load balancer or readiness probe
// prefers a healthy replica; do not restart on it (a restart cannot load the store).
type health struct {
	mu    sync.Mutex
	err   error
	since time.Time
	up    prometheus.Gauge
}

func newHealth() *health {
	h := &health{up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "podboot_store_up",
		Help: "1 while the store serves reads and commits, 0 while podboot runs degraded."})}
	h.up.Set(1)
	return h
}

// healthEvery is how often the store is probed.
const healthEvery = 2 * time.Second

// probeStore checks the store every healthEvery until ctx ends.
func (s *Server) probeStore(ctx context.Context) error {
	p, ok := s.store.(storeProber)
	if !ok {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, healthEvery)
		err := p.Health(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		s.health.set(err, time.Now(), s.log.Warn, s.log.Info)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *health) set(err error, now time.Time, warn, info func(string, ...any)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err != nil && h.err == nil:
		h.since = now
		h.up.Set(0)
		warn("store unavailable: running degraded (no changes, no new DHCP leases; reads, TFTP and HTTP keep serving)", "err", err)
	case err == nil && h.err != nil:
		h.up.Set(1)
		info("store is back: degraded mode over", "degraded_for", now.Sub(h.since).Round(time.Millisecond))
	}
	h.err = err
}

// serveHTTP answers /healthz.
func (h *health) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	err, since := h.err, h.since
	h.mu.Unlock()
	if err == nil {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = fmt.Fprintf(w, "degraded: the store is unavailable since %s: %v\nchanges and new DHCP leases wait for it; reads, TFTP and HTTP boot keep serving\n",
		since.UTC().Format(time.RFC3339), err)
}
