package podmgr

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHostTokenLifecycle(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	mac := "52:54:00:00:00:01"
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: mac, Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return clock }

	old, err := m.IssueHostToken(ctx, mac, "192.0.2.50", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.IssueHostToken(ctx, mac, "192.0.2.50", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := m.reg.Host(mac); h.TokenHash == tok || h.TokenHash != HashSecret(tok) {
		t.Fatal("the token must be stored hashed")
	}
	off := false
	tests := []struct {
		name   string
		secret string
		at     time.Duration
		ok     bool
	}{
		{"valid", tok, 0, true},
		{"replaced token", old, 0, false},
		{"management token shape", "pbt_" + tok[4:], 0, false},
		{"empty", "", 0, false},
		{"expired", tok, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.now = func() time.Time { return clock.Add(tt.at) }
			_, err := m.CheckHostToken(mac, tt.secret)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrHostToken)) {
				t.Fatalf("CheckHostToken err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	m.now = func() time.Time { return clock }

	empty := ""
	var zero time.Time
	done := HostUpdate{State: StateProvisioned, Netboot: &off, TokenHash: &empty, TokenExpires: &zero}
	h, err := m.HostTokenEvent(ctx, mac, tok, "192.0.2.50", "installed", "", done)
	if err != nil {
		t.Fatal(err)
	}
	if h.State != StateProvisioned || h.Netboot || h.TokenHash != "" {
		t.Fatalf("after installed: %+v", h)
	}
	if _, err := m.HostTokenEvent(ctx, mac, tok, "192.0.2.50", "installed", "", done); !errors.Is(err, ErrHostToken) {
		t.Fatalf("replayed call-back: err = %v, want ErrHostToken", err)
	}
	if _, err := m.IssueHostToken(ctx, mac, "", 0); !errors.Is(err, ErrHostToken) {
		t.Fatalf("token issued with netboot off: %v", err)
	}

	ch, cancel := m.Subscribe()
	defer cancel()
	h, err = m.Reprovision(ctx, admin, mac)
	if err != nil {
		t.Fatal(err)
	}
	if h.State != StateRegistered || !h.Netboot || h.TokenHash != "" {
		t.Fatalf("after reprovision: %+v", h)
	}
	if ev := <-ch; ev.Action != "reprovision" || ev.State != StateRegistered {
		t.Fatalf("watchers got %+v", ev)
	}
	if _, err := m.CheckHostToken(mac, tok); !errors.Is(err, ErrHostToken) {
		t.Fatal("the old token must stay dead after reprovision")
	}
	evs, err := m.HostEvents(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	want := []string{"registered", "token.issued", "token.issued", "installed", "reprovision"}
	if len(actions) != len(want) {
		t.Fatalf("events %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("events %v, want %v", actions, want)
		}
	}
}
