package podmgr

import (
	"context"
	"maps"
	"testing"
)

// TestStateCountsFollowChanges: the kept counts equal a recount of the pod's hosts after
// hosts are added, move state and are deleted, and after their pod is deleted (a load
// from the store goes through the same putHostLocked).
func TestStateCountsFollowChanges(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	if _, err := m.CreatePod(ctx, admin, testPod("pod-b", "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	hosts := []Host{{MAC: "02:00:00:00:00:01", Pod: "pod-a"}, {MAC: "02:00:00:00:00:02", Pod: "pod-a"}, {MAC: "02:00:00:00:00:03", Pod: "pod-b"}}
	if _, err := m.AddHosts(ctx, admin, hosts); err != nil {
		t.Fatal(err)
	}
	recount := func(pod string) map[HostState]int {
		out := map[HostState]int{}
		for _, h := range m.Registry().HostsOfPod(pod) {
			out[h.State]++
		}
		return out
	}
	check := func(step string) {
		t.Helper()
		for _, pod := range []string{"pod-a", "pod-b"} {
			if got, want := m.Registry().StateCounts(pod), recount(pod); !maps.Equal(got, want) {
				t.Fatalf("%s: %s counts %v, recount %v", step, pod, got, want)
			}
		}
	}
	check("added")
	if _, err := m.RecordHostEvent(ctx, "02:00:00:00:00:01", "192.0.2.9", "dhcp.offer", "", HostUpdate{State: StateOffered}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RecordHostEvent(ctx, "02:00:00:00:00:01", "192.0.2.9", "http.script", "", HostUpdate{State: StateBooting}); err != nil {
		t.Fatal(err)
	}
	check("moved")
	if got := m.Registry().StateCounts("pod-a"); got[StateBooting] != 1 || got[StateRegistered] != 1 || len(got) != 2 {
		t.Fatalf("pod-a counts %v, want one booting, one registered", got)
	}
	if err := m.DeleteHost(ctx, admin, "02:00:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	check("deleted")
	if err := m.DeletePod(ctx, admin, "pod-b", true); err != nil {
		t.Fatal(err)
	}
	if got := m.Registry().StateCounts("pod-b"); len(got) != 0 {
		t.Fatalf("deleted pod counts %v", got)
	}
	check("pod deleted")
}
