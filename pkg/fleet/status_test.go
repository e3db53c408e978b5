package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestPodStatus: a host failed by its deadline and a relay quiet for 20 minutes show in
// the pod's status: the failure by stage, the relay silent; a relay source a rule names
// but never heard is listed as never heard; an unknown pod is not found.
func TestPodStatus(t *testing.T) {
	const mac = "52:54:00:00:00:01"
	m := newManager(t, mac)
	ctx := context.Background()
	pod, _ := m.Registry().Pod("pod-a")
	p := pod.Pod
	p.Match = append(p.Match, podmgr.MatchRule{Giaddr: "192.0.2.1", RelaySource: "198.51.100.9"})
	if _, _, err := m.ApplyPod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	bootToKernel(t, m, mac)
	now := time.Now()
	relays := Relays{Port: 67, Seen: func(since time.Time) []dhcprelay.RelaySeen {
		return []dhcprelay.RelaySeen{{Source: "198.51.100.2", Giaddr: "192.0.2.1", Pod: "pod-a", Last: now.Add(-20 * time.Minute), Packets: 4}}
	}}
	svc := NewService(m, relays)
	svc.now = func() time.Time { return time.Now().Add(3 * time.Second) }
	if n, err := svc.CheckDeadlines(ctx, quiet()); err != nil || n != 1 {
		t.Fatalf("deadline check: %d, %v", n, err)
	}
	st, err := svc.Status(ctx, "pod-a")
	if err != nil {
		t.Fatal(err)
	}
	s := st[0]
	if s.Hosts != 1 || s.HostsByState[podmgr.StateFailed] != 1 || s.FailedDay != 1 || s.FailedHour != 1 || s.ProvisionedDay != 0 {
		t.Errorf("counts: %+v", s)
	}
	if len(s.Failures) != 1 || s.Failures[0].Stage != StageAgent || s.Failures[0].Count != 1 {
		t.Errorf("failures: %+v", s.Failures)
	}
	if len(s.Relays) != 2 || !s.Relays[0].Silent || s.Relays[0].Source != "198.51.100.2" || !s.Relays[1].NeverHeard || s.Relays[1].Source != "198.51.100.9" {
		t.Errorf("relays: %+v", s.Relays)
	}
	if _, err := svc.Status(ctx, "pod-x"); !podmgr.IsNotFound(err) {
		t.Errorf("unknown pod: %v", err)
	}
}
