package podmgr

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostTokenLifecycle(t *testing.T) {
	m := newManagerWithHost(t)
	ctx := context.Background()
	mac := testMAC
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

// writeCounter counts the write transactions a manager asks its store for.
type writeCounter struct {
	Store
	writes atomic.Int32
}

func (c *writeCounter) Update(ctx context.Context, fn func(Tx) error) error {
	c.writes.Add(1)
	return c.Store.Update(ctx, fn)
}

func (c *writeCounter) Batch(ctx context.Context, fn func(Tx) error) error {
	c.writes.Add(1)
	return c.Store.Batch(ctx, fn)
}

// The iPXE script request issues the token, records its event and moves the host
// forward in one write transaction; a host already past booting stays where it is.
func TestIssueHostTokenWithStepIsOneCommit(t *testing.T) {
	step := HostStep{Source: "192.0.2.50", Action: "http.script", Detail: "iPXE script served", State: StateBooting}
	tests := []struct {
		name      string
		from      HostState
		wantState HostState
	}{
		{"registered moves to booting", StateRegistered, StateBooting},
		{"offered moves to booting", StateOffered, StateBooting},
		{"verified stays", StateVerified, StateVerified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManagerWithHost(t)
			ctx := context.Background()
			mac := testMAC
			if tt.from != StateRegistered {
				if _, err := m.RecordHostEvent(ctx, mac, "test", "setup", "", HostUpdate{State: tt.from}); err != nil {
					t.Fatal(err)
				}
			}
			wc := &writeCounter{Store: m.store}
			m.store = wc
			ch, cancel := m.Subscribe()
			defer cancel()

			tok, err := m.IssueHostTokenWith(ctx, mac, "", time.Hour, step)
			if err != nil {
				t.Fatal(err)
			}
			if n := wc.writes.Load(); n != 1 {
				t.Errorf("%d write transactions, want 1", n)
			}
			h, err := m.CheckHostToken(mac, tok)
			if err != nil {
				t.Fatal(err)
			}
			if h.State != tt.wantState {
				t.Errorf("state %s, want %s", h.State, tt.wantState)
			}
			evs, err := m.HostEvents(ctx, mac)
			if err != nil {
				t.Fatal(err)
			}
			last := evs[len(evs)-2:]
			if last[0].Action != "token.issued" || last[1].Action != step.Action || last[1].Detail != step.Detail ||
				last[1].Source != step.Source || last[1].State != tt.wantState {
				t.Errorf("stored events %+v", last)
			}
			for _, want := range []struct {
				action string
				state  HostState
			}{{"token.issued", tt.from}, {step.Action, tt.wantState}} {
				if ev := <-ch; ev.Action != want.action || ev.State != want.state {
					t.Errorf("watchers got %s/%s, want %s/%s", ev.Action, ev.State, want.action, want.state)
				}
			}
		})
	}
}
