package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podboot/podboot/pkg/podmgr"
)

// registryCollector reports hosts by pod and state, read from the registry at scrape time.
type registryCollector struct {
	reg   *podmgr.Registry
	hosts *prometheus.Desc
	pods  *prometheus.Desc
}

func newRegistryCollector(reg *podmgr.Registry) *registryCollector {
	return &registryCollector{
		reg:   reg,
		hosts: prometheus.NewDesc("podboot_hosts", "Registered hosts by pod and state.", []string{"pod", "state"}, nil),
		pods:  prometheus.NewDesc("podboot_pods", "Registered pods.", nil, nil),
	}
}

func (c *registryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hosts
	ch <- c.pods
}

func (c *registryCollector) Collect(ch chan<- prometheus.Metric) {
	names := c.reg.PodNames()
	ch <- prometheus.MustNewConstMetric(c.pods, prometheus.GaugeValue, float64(len(names)))
	for _, pod := range names {
		for state, n := range c.reg.StateCounts(pod) {
			ch <- prometheus.MustNewConstMetric(c.hosts, prometheus.GaugeValue, float64(n), pod, string(state))
		}
	}
}
