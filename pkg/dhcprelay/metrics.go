package dhcprelay

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxRelayLabels bounds the distinct relay label values: a flood of spoofed giaddrs
// must not grow the metrics without limit. Later relays are counted as "other".
const maxRelayLabels = 4096

type metrics struct {
	packets     *prometheus.CounterVec // pod, relay, type, outcome
	dropped     *prometheus.CounterVec // relay, reason (before a pod is known)
	refused     *prometheus.CounterVec // pod, type, reason
	commitTime  prometheus.Histogram
	commitBatch prometheus.Histogram
	commitErrs  prometheus.Counter
	eventsShed  prometheus.Counter

	mu     sync.Mutex
	relays map[string]struct{}
	// counters caches packets' children by their raw labels: WithLabelValues hashes and
	// looks up four strings under a lock on every packet. Only relays that got their own
	// label are cached, so the cache is bounded like the label set.
	counters sync.Map // packetKey -> prometheus.Counter
}

type packetKey struct{ pod, relay, typ, outcome string }

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) (*metrics, error) {
	m := &metrics{
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "packets_total",
			Help: "DHCP requests handled, by pod, relay, message type and outcome.",
		}, []string{"pod", "relay", "type", "outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "dropped_total",
			Help: "DHCP packets dropped before a pod was resolved, by relay and reason (queue_full, malformed, hops, not_request, no_pod, ...).",
		}, []string{"relay", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "refused_total",
			Help: "DHCP requests refused by a security rule, by pod, message type and reason (source_not_ciaddr, not_leased, moves_host, not_own_address, unusable_address, relayed_by_host).",
		}, []string{"pod", "type", "reason"}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "lease_commit_seconds",
			Help:    "Time to make a batch of leases durable before their ACKs are sent.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "lease_commit_batch_size",
			Help:    "Leases written per store transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commitErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "lease_commit_errors_total",
			Help: "Lease batches that failed to commit; their ACKs were not sent.",
		}),
		eventsShed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "host_events_shed_total",
			Help: "Host events not recorded because the event queue was full.",
		}),
		relays: map[string]struct{}{},
	}
	cs := []prometheus.Collector{m.packets, m.dropped, m.refused, m.commitTime, m.commitBatch, m.commitErrs, m.eventsShed}
	if queueDepth != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "podboot", Subsystem: "dhcp", Name: "queue_depth",
			Help: "Packets waiting for a worker.",
		}, queueDepth))
	}
	if reg != nil {
		for _, c := range cs {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// relayLabel caps the cardinality of the relay label.
func (m *metrics) relayLabel(relay string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.relays[relay]; ok {
		return relay
	}
	if len(m.relays) >= maxRelayLabels {
		return "other"
	}
	m.relays[relay] = struct{}{}
	return relay
}

func (m *metrics) packet(pod, relay, typ, outcome string) {
	if pod == "" {
		pod = "none"
	}
	k := packetKey{pod, relay, typ, outcome}
	if c, ok := m.counters.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	label := m.relayLabel(relay)
	c := m.packets.WithLabelValues(pod, label, typ, outcome)
	if label == relay {
		m.counters.Store(k, c)
	}
	c.Inc()
}

// refuse counts a request refused by a rule; its labels are bounded (pods, types and a
// fixed set of reasons).
func (m *metrics) refuse(pod, typ, reason string) {
	m.refused.WithLabelValues(pod, typ, reason).Inc()
}

func (m *metrics) drop(relay, reason string) {
	m.dropped.WithLabelValues(m.relayLabel(relay), reason).Inc()
}
