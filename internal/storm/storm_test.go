package storm

import (
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestStorm is the CI-sized boot storm: 50 hosts across 5 pods boot at once against the
// real binary through the full protocol sequence; every one must be provisioned, in
// the simulator's view and in the store.
func TestStorm(t *testing.T) {
	c := stormCase{hosts: 50, pods: 5, stage2MiB: 4, kernelMiB: 4, initrdMiB: 2, profile: 5 * time.Second, timeout: 3 * time.Minute}
	s := newStormSite(t, c)
	r := s.storm(c)
	t.Logf("\n%s", r.summary())
	if r.report.Failed != 0 || r.report.Provisioned != c.hosts {
		t.Fatalf("%d of %d provisioned, %d failed: %v %v\npodboot log:\n%s", r.report.Provisioned, c.hosts, r.report.Failed, r.report.FailuresByStage, r.report.FirstError, r.podboot)
	}
	if r.states[podmgr.StateProvisioned] != c.hosts {
		t.Fatalf("store holds %v, want %d provisioned", r.states, c.hosts)
	}
	if !strings.Contains(r.pprof, "github.com/podboot/podboot/pkg/") {
		t.Errorf("CPU profile names no podboot function:\n%s", r.pprof)
	}
	for _, st := range Stages {
		if r.report.Stages[st].P50 <= 0 {
			t.Errorf("stage %s has no timing", st)
		}
	}
}
