package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podboot/podboot/pkg/podmgr"
)

// DefaultMetricPods bounds the pod label of the provision metrics: the first pods to
// provision keep their name, later ones are counted as "other" (per-pod numbers for
// every pod are in `podboot pod status`, computed from the stored events).
const DefaultMetricPods = 256

// maxTracked bounds the hosts whose current attempt the metrics follow; an attempt
// that ends is forgotten at once, one quiet for an hour when the table is full.
const maxTracked = 100_000

// Metrics are Prometheus histograms of stage and provision durations, and counters of
// failures by stage, fed by the host events this replica records (Manager.Subscribe):
// each replica observes the provisions it served, and the sum across replicas is the
// fleet's. A stage whose start another replica recorded is not observed by either.
type Metrics struct {
	stage    *prometheus.HistogramVec // pod, stage
	total    *prometheus.HistogramVec // pod
	failures *prometheus.CounterVec   // pod, stage, kind (agent, deadline)

	mu       sync.Mutex
	maxPods  int
	pods     map[string]struct{}
	tracked  map[string]*tracked
	lastSeen func() time.Time
}

type tracked struct {
	b    builder
	last time.Time
}

// NewMetrics registers the provision metrics on reg; maxPods bounds the pod label
// (0: DefaultMetricPods).
func NewMetrics(reg prometheus.Registerer, maxPods int) (*Metrics, error) {
	if maxPods <= 0 {
		maxPods = DefaultMetricPods
	}
	buckets := []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	m := &Metrics{
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "podboot", Subsystem: "provision", Name: "stage_seconds",
			Help:    "Time from one provisioning stage to the next (stage is the one reached), by pod (bounded: later pods are \"other\").",
			Buckets: buckets,
		}, []string{"pod", "stage"}),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "podboot", Subsystem: "provision", Name: "seconds",
			Help:    "Time from the first DHCP offer to installed, by pod (bounded like stage_seconds).",
			Buckets: buckets,
		}, []string{"pod"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "provision", Name: "failures_total",
			Help: "Failed provisions by pod, the stage they were stuck in, and kind (agent: the agent reported it; deadline: a stage deadline passed).",
		}, []string{"pod", "stage", "kind"}),
		maxPods: maxPods, pods: map[string]struct{}{}, tracked: map[string]*tracked{}, lastSeen: time.Now,
	}
	for _, c := range []prometheus.Collector{m.stage, m.total, m.failures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Run observes mgr's host events until ctx ends.
func (m *Metrics) Run(ctx context.Context, mgr *podmgr.Manager) error {
	evs, stop := mgr.Subscribe()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-evs:
			m.observe(e)
		}
	}
}

// podLabel is pod, or "other" once maxPods pods have a label.
func (m *Metrics) podLabel(pod string) string {
	if _, ok := m.pods[pod]; ok {
		return pod
	}
	if len(m.pods) >= m.maxPods {
		return "other"
	}
	m.pods[pod] = struct{}{}
	return pod
}

func (m *Metrics) observe(e podmgr.Event) {
	if e.Kind != podmgr.KindHost || e.MAC == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tracked[e.MAC]
	if !ok {
		if e.Action != "dhcp.offer" || !m.room() {
			return
		}
		t = &tracked{}
		m.tracked[e.MAC] = t
	}
	t.last = m.lastSeen()
	started, reached, ended := t.b.add(e)
	cur := t.b.cur()
	if cur == nil {
		return
	}
	if started {
		t.b.out = t.b.out[len(t.b.out)-1:] // only the current attempt
	}
	pod := m.podLabel(cur.Pod)
	if reached {
		mk := cur.Last()
		m.stage.WithLabelValues(pod, string(mk.Stage)).Observe(mk.Seconds)
	}
	if !ended {
		return
	}
	if cur.Outcome == OutcomeInstalled {
		m.total.WithLabelValues(pod).Observe(cur.TotalSeconds)
	} else if e.Action != ActionDeadline { // deadline failures are counted where they are made
		m.failures.WithLabelValues(pod, string(cur.Stuck), "agent").Inc()
	}
	delete(m.tracked, e.MAC)
}

// room makes room for one more tracked host if it can: at the cap it forgets the
// attempts quiet for an hour.
func (m *Metrics) room() bool {
	if len(m.tracked) < maxTracked {
		return true
	}
	old := m.lastSeen().Add(-time.Hour)
	for mac, t := range m.tracked {
		if t.last.Before(old) {
			delete(m.tracked, mac)
		}
	}
	return len(m.tracked) < maxTracked
}

// deadline counts a host failed by a stage deadline.
func (m *Metrics) deadline(pod string, stuck Stage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures.WithLabelValues(m.podLabel(pod), string(stuck), "deadline").Inc()
}

// SetMetrics makes the deadline check count its failures in m.
func (s *Service) SetMetrics(m *Metrics) { s.metrics = m }
