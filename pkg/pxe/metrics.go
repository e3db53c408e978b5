package pxe

import "github.com/prometheus/client_golang/prometheus"

// metrics are the boot service's Prometheus series, labelled by pod. The pod label is
// set only after the pod was found in the registry, so a scanner inventing pod names
// cannot grow the series; unknown pods count under pod="".
type metrics struct {
	tftpTransfers *prometheus.CounterVec // pod, outcome: ok, failed, probe
	tftpBytes     *prometheus.CounterVec // pod
	tftpRefused   *prometheus.CounterVec // pod, reason
	tftpActive    prometheus.Gauge
	tftpUnacked   *prometheus.CounterVec // pod
	httpRequests  *prometheus.CounterVec // pod, kind, code
	httpBytes     *prometheus.CounterVec // pod
	httpRefused   *prometheus.CounterVec // pod, reason
	tokenWithheld *prometheus.CounterVec // pod, reason
	connRefused   *prometheus.CounterVec // listener, cap
}

func newMetrics(reg prometheus.Registerer, slotsInUse func() float64) (*metrics, error) {
	m := &metrics{
		tftpTransfers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "tftp", Name: "transfers_total",
			Help: "TFTP read transfers by pod and outcome (ok, failed, probe: the UEFI tsize probe aborted after the option ack)."}, []string{"pod", "outcome"}),
		tftpBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "tftp", Name: "bytes_total",
			Help: "Bytes sent over TFTP by pod."}, []string{"pod"}),
		tftpRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "tftp", Name: "refused_total",
			Help: "TFTP requests refused by pod and reason (path, host, pod, netboot, source, onboarding, missing; busy, busy_source, busy_pod: no transfer slot, the request dropped unanswered)."}, []string{"pod", "reason"}),
		tftpActive: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "podboot", Subsystem: "tftp", Name: "active_transfers",
			Help: "TFTP transfers in progress (those that gave their slot back early included)."}),
		tftpUnacked: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "tftp", Name: "unacked_released_total",
			Help: "TFTP transfers that gave their slot back because the client did not acknowledge the first DATA (or option ack) in time, by pod."}, []string{"pod"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "http", Name: "requests_total",
			Help: "Boot HTTP(S) requests by pod, kind (script, localboot, artifact, signature, params) and status code."}, []string{"pod", "kind", "code"}),
		httpBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "http", Name: "bytes_total",
			Help: "Body bytes sent by the boot HTTP(S) endpoints by pod."}, []string{"pod"}),
		httpRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "http", Name: "refused_total",
			Help: "Boot HTTP(S) requests refused by pod and reason."}, []string{"pod", "reason"}),
		tokenWithheld: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "http", Name: "script_token_withheld_total",
			Help: "iPXE scripts served without a provisioning token by pod and reason (no_dhcp, no_dhcp_exchange, stale_exchange, source, exchange_used)."}, []string{"pod", "reason"}),
		connRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "podboot", Subsystem: "boot", Name: "connections_refused_total",
			Help: "Boot HTTP and HTTPS connections closed at accept because a cap was reached, by listener (http, https) and cap (per_source, total)."}, []string{"listener", "cap"}),
	}
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "podboot", Subsystem: "tftp", Name: "slots_in_use",
		Help: "TFTP transfer slots taken (of maxTftpTransfers)."}, slotsInUse)
	for _, c := range []prometheus.Collector{inUse, m.tftpTransfers, m.tftpBytes, m.tftpRefused, m.tftpActive, m.tftpUnacked, m.httpRequests, m.httpBytes, m.httpRefused, m.tokenWithheld, m.connRefused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
