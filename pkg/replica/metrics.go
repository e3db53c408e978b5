package replica

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	owned, members, alive prometheus.Gauge
	moves                 *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		owned:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "podboot_replica_pods_owned", Help: "Pods this replica answers DHCP for."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "podboot_replica_members", Help: "Live replicas this replica counts (suspects included)."}),
		alive:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "podboot_replica_session_alive", Help: "1 while this replica's etcd session is certainly held."}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "podboot_replica_ownership_changes_total",
			Help: "Pods this replica claimed, released (assigned elsewhere) or lost (its owner key went)."}, []string{"change"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.owned, m.members, m.alive, m.moves} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("replica metrics: %w", err)
		}
	}
	return m, nil
}
