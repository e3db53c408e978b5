package fleet

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

var admin = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newManager is a bbolt-backed manager with profile "fast" (agent deadline 1 s), pod-a
// and one host in it.
func newManager(t *testing.T, mac string) *podmgr.Manager {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	m, err := podmgr.Open(ctx, st, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.ApplyProfile(ctx, admin, podmgr.Profile{Name: "fast", Deadlines: podmgr.StageDeadlines{Agent: 1}}, true); err != nil {
		t.Fatal(err)
	}
	pod := podmgr.Pod{Name: "pod-a", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Profile: "fast", ServerAddress: "198.51.100.10",
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.200"}}}
	if _, err := m.CreatePod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	return m
}

// bootToKernel records what the services record for a host up to kernel and initrd
// sent, as the DHCP and boot services do.
func bootToKernel(t *testing.T, m *podmgr.Manager, mac string) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []struct {
		action, detail string
		state          podmgr.HostState
	}{
		{"dhcp.offer", "ip=192.0.2.100", podmgr.StateOffered},
		{"http.script", "iPXE script served", podmgr.StateBooting},
		{"http.sent", "file=k@1", podmgr.StateBooting},
		{"http.sent", "file=i@1", podmgr.StateBooting},
	} {
		if _, err := m.RecordHostEvent(ctx, mac, "192.0.2.100", s.action, s.detail, podmgr.HostUpdate{State: s.state}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeadlineFailsStuckHostOnce: a host whose agent never calls is failed, stuck in
// stage agent, once the profile's agent deadline passed, with a stage.deadline event;
// not before; and a second checker (another replica) working from the same stale view
// writes nothing.
func TestDeadlineFailsStuckHostOnce(t *testing.T) {
	const mac = "52:54:00:00:00:01"
	m := newManager(t, mac)
	bootToKernel(t, m, mac)
	ctx := context.Background()
	svc := NewService(m, Relays{})
	stale, _ := m.Registry().Host(mac)

	svc.now = func() time.Time { return time.Now().Add(500 * time.Millisecond) }
	if n, err := svc.CheckDeadlines(ctx, quiet()); err != nil || n != 0 {
		t.Fatalf("before the deadline: failed %d, err %v", n, err)
	}
	svc.now = func() time.Time { return time.Now().Add(3 * time.Second) }
	if n, err := svc.CheckDeadlines(ctx, quiet()); err != nil || n != 1 {
		t.Fatalf("after the deadline: failed %d, err %v; want 1", n, err)
	}
	h, _ := m.Registry().Host(mac)
	if h.State != podmgr.StateFailed || !strings.Contains(h.StateReason, "stuck in agent") || h.TokenHash != "" || !h.Netboot {
		t.Errorf("host after the deadline: %+v", h)
	}
	if ok, err := m.FailStuck(ctx, stale, ActionDeadline, "again"); ok || err != nil {
		t.Errorf("second replica's FailStuck from a stale view: %v, %v; want false, nil", ok, err)
	}
	if n, err := svc.CheckDeadlines(ctx, quiet()); err != nil || n != 0 {
		t.Errorf("check again: failed %d, err %v; want 0", n, err)
	}
	ts, err := svc.HostTimeline(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Outcome != OutcomeFailed || ts[0].Stuck != StageAgent {
		t.Errorf("timeline: %+v", ts)
	}
	evs, _ := m.HostEvents(ctx, mac)
	n := 0
	for _, e := range evs {
		if e.Action == ActionDeadline {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d stage.deadline events, want 1", n)
	}
}

func TestStageDeadlinesValidate(t *testing.T) {
	st, err := podmgr.OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := podmgr.Open(context.Background(), st, quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []podmgr.StageDeadlines{{Agent: -1}, {Installed: 8 * 24 * 3600}} {
		_, _, err := m.ApplyProfile(context.Background(), admin, podmgr.Profile{Name: "p", Deadlines: d}, true)
		if err == nil || !strings.Contains(err.Error(), "deadlines.") {
			t.Errorf("deadlines %+v: %v; want a deadlines error", d, err)
		}
	}
}
