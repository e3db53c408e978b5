package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

var admin = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

// testFleet is a bbolt store of pods hosts each (plus one pod "big" of bigPod hosts) and
// events host events of the last day spread over the pods, loaded into a Manager, the
// dashboard over it with the fleet view, and a viewer token. Records go in through the Store, in large
// transactions, as a restore would: a million hosts through the API would take minutes.
type testFleet struct {
	mgr    *podmgr.Manager
	ui     *UI
	viewer string
}

func newFleet(tb testing.TB, pods, hosts, bigPod, events int) *testFleet {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "podboot.db")
	st, err := podmgr.OpenBolt(path)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	put := func(fn func(tx podmgr.Tx) error) {
		if err := st.Update(ctx, fn); err != nil {
			tb.Fatal(err)
		}
	}
	put(func(tx podmgr.Tx) error {
		return tx.PutProfile(podmgr.Profile{Name: "default", CreatedAt: now, UpdatedAt: now})
	})
	const perTx = 100
	for p0 := 0; p0 < pods; p0 += perTx {
		put(func(tx podmgr.Tx) error {
			for p := p0; p < min(pods, p0+perTx); p++ {
				name := fmt.Sprintf("pod-%05d", p)
				if err := tx.PutPod(benchPod(name, fmt.Sprintf("rack-%05d", p), now)); err != nil {
					return err
				}
				for h := range hosts {
					if err := tx.PutHost(benchHost(name, p, h, now)); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if bigPod > 0 {
		put(func(tx podmgr.Tx) error {
			if err := tx.PutPod(benchPod("big", "rack-big", now)); err != nil {
				return err
			}
			for h := range bigPod {
				if err := tx.PutHost(benchHost("big", 0xffff, h, now)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for e0 := 0; e0 < events; e0 += 20_000 {
		put(func(tx podmgr.Tx) error {
			for e := e0; e < min(events, e0+20_000); e++ {
				p, h := e%pods, e/pods%hosts
				pod := fmt.Sprintf("pod-%05d", p)
				ev := podmgr.Event{Time: now.Add(-23 * time.Hour).Add(time.Duration(e) * 23 * time.Hour / time.Duration(events)), Kind: podmgr.KindHost,
					Pod: pod, MAC: benchHost(pod, p, h, now).MAC, Source: "192.0.2.9", Action: "dhcp.offer", State: podmgr.StateOffered}
				if _, err := tx.AppendEvent(ev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	st.Close()
	st, err = podmgr.OpenBolt(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := podmgr.Open(ctx, st, log)
	if err != nil {
		tb.Fatal(err)
	}
	secret, _, err := m.CreateToken(ctx, admin, "viewer", podmgr.RoleViewer)
	if err != nil {
		tb.Fatal(err)
	}
	u := New(m, fleet.NewService(m, fleet.Relays{}), log)
	u.poll = 50 * time.Millisecond
	return &testFleet{mgr: m, ui: u, viewer: secret}
}

func benchPod(name, circuit string, now time.Time) podmgr.Pod {
	return podmgr.Pod{Name: name, Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1", CircuitID: circuit}},
		Subnets:       []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}},
		ServerAddress: "198.51.100.10", Profile: "default", Management: podmgr.ManagementNet{CIDR: "203.0.113.0/24"},
		CreatedAt: now, UpdatedAt: now}
}

// benchHost is host h of pod number p: every tenth failed, every other provisioned.
func benchHost(pod string, p, h int, now time.Time) podmgr.Host {
	host := podmgr.Host{MAC: fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", p>>8&0xff, p&0xff, h>>16&0xff, h>>8&0xff, h&0xff), Pod: pod,
		Hostname: fmt.Sprintf("n%05d-%06d", p, h), State: podmgr.StateRegistered, Netboot: true, CreatedAt: now, UpdatedAt: now}
	switch {
	case h%10 == 0:
		host.State, host.StateReason = podmgr.StateFailed, "agent.verified: stage2 signature does not verify"
	case h%2 == 0:
		host.State, host.ManagementIP, host.Netboot = podmgr.StateProvisioned, fmt.Sprintf("203.0.113.%d", h%250+1), false
	}
	return host
}

// get requests path with the viewer's cookie (no cookie when secret is "").
func (f *testFleet) get(tb testing.TB, path, secret string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("GET", "https://podboot.test"+path, nil)
	if secret != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: secret})
	}
	rec := httptest.NewRecorder()
	f.ui.Handler().ServeHTTP(rec, req)
	return rec
}
