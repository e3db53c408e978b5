package podmgr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSetNetboot(t *testing.T) {
	ctx := context.Background()
	op := Actor{Name: "token:ops", Role: RoleOperator, Source: "127.0.0.1:5000"}
	tests := []struct {
		name      string
		from      HostState
		netboot   bool // before
		on        bool // asked for
		wantErr   error
		changed   bool
		wantState HostState
	}{
		{"off keeps a registered host registered", StateRegistered, true, false, nil, true, StateRegistered},
		{"off stops an install where it got to", StateInstalling, true, false, nil, true, StateInstalling},
		{"on after off starts over from registered", StateBooting, false, true, nil, true, StateRegistered},
		{"on retries a failed host from registered", StateFailed, false, true, nil, true, StateRegistered},
		{"on keeps a discovered host discovered", StateDiscovered, false, true, nil, true, StateDiscovered},
		{"on for a provisioned host is reprovision's job", StateProvisioned, false, true, ErrConflict, false, StateProvisioned},
		{"off when off changes nothing", StateProvisioned, false, false, nil, false, StateProvisioned},
		{"on when on changes nothing (keeps a boot in progress)", StateVerified, true, true, nil, false, StateVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			seed(t, m)
			mac := "52:54:00:00:00:07"
			if _, err := m.AddHosts(ctx, admin, []Host{{MAC: mac, Pod: "pod-a"}}); err != nil {
				t.Fatal(err)
			}
			// Put the host where the case starts, with a live token when netboot is on.
			if _, err := m.IssueHostToken(ctx, mac, "", time.Hour); err != nil {
				t.Fatal(err)
			}
			forceState(t, m, mac, tt.from, tt.netboot)
			before, _ := m.reg.Host(mac)
			ch, cancel := m.Subscribe()
			defer cancel()

			h, changed, err := m.SetNetboot(ctx, op, "52-54-00-00-00-07", tt.on)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if changed != tt.changed {
				t.Fatalf("changed = %v, want %v", changed, tt.changed)
			}
			reg, _ := m.reg.Host(mac)
			if reg.State != tt.wantState {
				t.Fatalf("registry state %s, want %s", reg.State, tt.wantState)
			}
			if !tt.changed {
				if reg.Netboot != before.Netboot || reg.TokenHash != before.TokenHash || reg.UpdatedAt != before.UpdatedAt {
					t.Fatalf("an unchanged request wrote the host: %+v -> %+v", before, reg)
				}
				assertNoEvent(t, m, mac, "netboot.")
				return
			}
			if h.Netboot != tt.on || reg.Netboot != tt.on {
				t.Fatalf("netboot: returned %v, registry %v, want %v", h.Netboot, reg.Netboot, tt.on)
			}
			if reg.TokenHash != "" {
				t.Fatal("a manual netboot change must leave no provisioning token (none issued, the old one dropped)")
			}
			select {
			case ev := <-ch:
				if ev.Action != netbootAction(tt.on) || ev.State != tt.wantState {
					t.Fatalf("published %+v", ev)
				}
			default:
				t.Fatal("no event published to watchers")
			}
			audits, err := m.Events(ctx, EventFilter{Kind: KindAudit})
			if err != nil {
				t.Fatal(err)
			}
			last := audits[len(audits)-1]
			if last.Action != "host."+netbootAction(tt.on) || last.Actor != op.Name || last.Source != op.Source || last.MAC != mac || last.Pod != "pod-a" {
				t.Fatalf("audit event %+v", last)
			}
		})
	}
}

func TestSetNetbootRefusals(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	for _, tt := range []struct {
		mac  string
		want error
	}{
		{"52:54:00:00:00:99", ErrNotFound},
		{"not-a-mac", ErrInvalid},
	} {
		if _, _, err := m.SetNetboot(ctx, admin, tt.mac, false); !errors.Is(err, tt.want) {
			t.Errorf("SetNetboot(%s) err = %v, want %v", tt.mac, err, tt.want)
		}
	}
}

// forceState sets a host's state directly in the store and registry (a test shortcut:
// services only move hosts forward).
func forceState(t *testing.T, m *Manager, mac string, st HostState, netboot bool) {
	t.Helper()
	if _, err := m.hostUpdate(context.Background(), mac, func(h *Host) (Event, error) {
		h.State, h.Netboot = st, netboot
		return Event{Action: "test.state", State: st}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func assertNoEvent(t *testing.T, m *Manager, mac, prefix string) {
	t.Helper()
	evs, err := m.HostEvents(context.Background(), mac)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.HasPrefix(e.Action, prefix) {
			t.Fatalf("unexpected event %+v", e)
		}
	}
}
