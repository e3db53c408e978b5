package bmc

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/bmc/cred"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestPollerEvents: the power poll writes an event only on a change; a host the BMC
// reports off while it should be booting is flagged; a BMC that stops answering is
// reported on the second failed poll, once, not on the first.
func TestPollerEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := podmgr.Open(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cred.Load(filepath.Join(dir, "bmc.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	a := podmgr.Actor{Name: "t", Role: podmgr.RoleAdmin}
	if _, _, err := m.ApplyProfile(ctx, a, podmgr.Profile{Name: "prof"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, a, podmgr.Pod{Name: "p1", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24"}}, ServerAddress: "198.51.100.10", Profile: "prof"}); err != nil {
		t.Fatal(err)
	}
	const up, down = "52:54:00:00:00:01", "52:54:00:00:00:02"
	if _, err := m.AddHosts(ctx, a, []podmgr.Host{{MAC: up, Pod: "p1"}, {MAC: down, Pod: "p1"}}); err != nil {
		t.Fatal(err)
	}
	fx := testutil.StartRedfishBMC(t, "admin", "pw")
	svc := NewService(m, keys, log, 3*time.Second)
	if _, err := svc.Set(ctx, a, up, Settings{Driver: podmgr.BMCRedfish, Address: fx.Host, Port: fx.Port, User: "admin", Password: "pw", CACert: fx.CACert}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Set(ctx, a, down, Settings{Driver: podmgr.BMCRedfish, Address: "127.0.0.1", Port: testutil.FreeTCPPort(t), User: "admin", Password: "pw", InsecureTLS: true}); err != nil {
		t.Fatal(err)
	}
	p := NewPoller(svc, 4)
	pollEvents := func(mac string) []string {
		t.Helper()
		evs, err := m.HostEvents(ctx, mac)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			if e.Actor == pollActor.Name {
				out = append(out, e.Action)
			}
		}
		return out
	}
	steps := []struct {
		name     string
		before   func()
		upWant   []string
		downWant []string
	}{
		{"first poll: states learnt, nothing written", nil, nil, nil},
		{"power went off", func() { fx.SetPowerState("Off") }, []string{"bmc.power.state"}, []string{"bmc.poll.failed"}},
		{"no change, nothing more", nil, []string{"bmc.power.state"}, []string{"bmc.poll.failed"}},
		{"on, then booting", func() {
			fx.SetPowerState("On")
			if _, err := m.RecordHostEvent(ctx, up, "test", "offer", "", podmgr.HostUpdate{State: podmgr.StateBooting}); err != nil {
				t.Fatal(err)
			}
		}, []string{"bmc.power.state", "bmc.power.state"}, []string{"bmc.poll.failed"}},
		{"off while booting", func() { fx.SetPowerState("Off") }, []string{"bmc.power.state", "bmc.power.state", "bmc.power.unexpected-off"}, []string{"bmc.poll.failed"}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if got := pollEvents(up); !slices.Equal(got, s.upWant) {
			t.Fatalf("%s: events of the answering BMC %v, want %v", s.name, got, s.upWant)
		}
		if got := pollEvents(down); !slices.Equal(got, s.downWant) {
			t.Fatalf("%s: events of the silent BMC %v, want %v", s.name, got, s.downWant)
		}
	}
}
