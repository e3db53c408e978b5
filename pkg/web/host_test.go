package web

import (
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestTimeline: each event's time since the one before and since its attempt began; a
// DHCP offer to a host that is not provisioning starts an attempt, a late offer does not.
func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evs := []podmgr.Event{
		{Time: at(0), Action: "registered", State: podmgr.StateRegistered},
		{Time: at(60), Action: "dhcp.offer", State: podmgr.StateOffered},
		{Time: at(63), Action: "http.script", State: podmgr.StateBooting},
		{Time: at(64), Action: "dhcp.offer", State: podmgr.StateBooting}, // iPXE's own DHCP
		{Time: at(90), Action: "failed", State: podmgr.StateFailed},
		{Time: at(200), Action: "dhcp.offer", State: podmgr.StateOffered},
		{Time: at(205), Action: "http.script", State: podmgr.StateBooting},
	}
	want := []struct{ took, since int }{{0, 0}, {0, 0}, {3, 3}, {1, 4}, {26, 30}, {0, 0}, {5, 5}}
	got := timeline(evs)
	for i, w := range want {
		if got[i].Took != time.Duration(w.took)*time.Second || got[i].SinceStart != time.Duration(w.since)*time.Second {
			t.Errorf("event %d (%s): took %s, since start %s; want %ds, %ds", i, evs[i].Action, got[i].Took, got[i].SinceStart, w.took, w.since)
		}
	}
}
