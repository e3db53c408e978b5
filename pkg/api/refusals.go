package api

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// refusalReason is why a request was refused (a bounded metric label).
type refusalReason string

const (
	reasonMissing refusalReason = "missing_token"
	reasonInvalid refusalReason = "invalid_token"
	reasonRole    refusalReason = "role"
)

// refusalLogEvery is how often refusals are logged at most; the ones in between are
// counted and the next log line says how many it stands for.
const refusalLogEvery = time.Second

// refusals counts every 401 and 403 by route pattern and reason, and logs them at most
// once a refusalLogEvery, so a brute-force or a role probe is visible without letting
// it flood the log.
type refusals struct {
	log   *slog.Logger
	count *prometheus.CounterVec

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newRefusals(log *slog.Logger) *refusals {
	return &refusals{log: log, count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podboot_api_refused_total",
		Help: "Management API requests refused with 401 or 403, by route pattern and reason (missing_token, invalid_token, role).",
	}, []string{"route", "reason"})}
}

func (f *refusals) record(r *http.Request, pattern string, reason refusalReason, actor string) {
	f.count.WithLabelValues(pattern, string(reason)).Inc()
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.last) < refusalLogEvery {
		f.suppressed++
		f.mu.Unlock()
		return
	}
	suppressed := f.suppressed
	f.last, f.suppressed = now, 0
	f.mu.Unlock()
	f.log.Warn("api request refused", "route", pattern, "reason", string(reason), "source", r.RemoteAddr,
		"actor", actor, "path", Quote(r.URL.Path), "refusals_not_logged", suppressed)
}
