package blobsync

import "github.com/prometheus/client_golang/prometheus"

// metrics count the copies between replicas, so an operator sees a replica that keeps
// failing to pull (or a peer that sends bad bytes) without reading logs.
type metrics struct {
	pulls     *prometheus.CounterVec
	pullBytes prometheus.Counter
	missing   prometheus.GaugeFunc
}

func newMetrics(r *Replicator) *metrics {
	return &metrics{
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podboot_artifact_pulls_total",
			Help: "Blob pulls from a peer replica by result: ok, mismatch (the bytes did not hash to the digest; refused) or failed.",
		}, []string{"result"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "podboot_artifact_pull_bytes_total",
			Help: "Bytes of blobs pulled from peer replicas and kept.",
		}),
		missing: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "podboot_artifact_blobs_missing",
			Help: "Blobs the artifact catalog names that this replica does not hold yet.",
		}, func() float64 { return float64(len(r.missing())) }),
	}
}

// Collectors are the replication's metrics, to register on the server's registry.
func (r *Replicator) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.m.pulls, r.m.pullBytes, r.m.missing}
}
