package fleet

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsObserveStagesAndBoundPods: a provision's events give one stage observation
// per stage reached and one total; pods beyond the cap share the label "other"; ended
// attempts are forgotten.
func TestMetricsObserveStagesAndBoundPods(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"pod-a", "pod-b"} {
		for _, e := range events(fullRun...) {
			e.Pod = pod
			e.MAC = "52:54:00:00:00:0" + pod[4:]
			m.observe(e)
		}
	}
	for _, pod := range []string{"pod-a", "other"} {
		if n := histCount(t, reg, "podboot_provision_seconds", pod, ""); n != 1 {
			t.Errorf("provision_seconds{pod=%s} count %d, want 1", pod, n)
		}
		if n := histCount(t, reg, "podboot_provision_stage_seconds", pod, "agent"); n != 1 {
			t.Errorf("stage_seconds{pod=%s,stage=agent} count %d, want 1", pod, n)
		}
	}
	if n := histCount(t, reg, "podboot_provision_seconds", "pod-b", ""); n != 0 {
		t.Errorf("pod-b has its own label beyond the cap of 1")
	}
	if len(m.tracked) != 0 {
		t.Errorf("%d attempts still tracked after they ended", len(m.tracked))
	}
}

func histCount(t *testing.T, reg *prometheus.Registry, name, pod, stage string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["pod"] == pod && (stage == "" || labels["stage"] == stage) {
				return mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}
