package podmgr

import (
	"context"
	"errors"
	"testing"
)

// TestInvariantsCheckedInTransaction: what another replica sharing the store wrote is
// not in this Manager's registry, so each invariant must also be checked against the
// store inside the write transaction. The "other replica" here writes to the store
// behind the Manager's back; each change must then be refused with ErrConflict or
// ErrInvalid instead of overwriting or dangling.
func TestInvariantsCheckedInTransaction(t *testing.T) {
	ctx := context.Background()
	behindBack := func(t *testing.T, m *Manager, fn func(Tx) error) {
		t.Helper()
		if err := m.Store().Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		other func(Tx) error
		do    func(*Manager) error
		want  error
	}{
		{"MAC registered by another replica",
			func(tx Tx) error { return tx.PutHost(Host{MAC: "52:54:00:00:00:99", Pod: "pod-a"}) },
			func(m *Manager) error {
				_, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:99", Pod: "pod-a"}})
				return err
			}, ErrConflict},
		{"pod created by another replica",
			func(tx Tx) error { return tx.PutPod(testPod("pod-x", "192.0.2.77")) },
			func(m *Manager) error { _, err := m.CreatePod(ctx, admin, testPod("pod-x", "192.0.2.78")); return err }, ErrConflict},
		{"pod deleted by another replica",
			func(tx Tx) error { return tx.DeletePod("pod-a") },
			func(m *Manager) error {
				_, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:98", Pod: "pod-a"}})
				return err
			}, ErrInvalid},
		{"profile deleted by another replica",
			func(tx Tx) error { return tx.DeleteProfile("default") },
			func(m *Manager) error { _, err := m.CreatePod(ctx, admin, testPod("pod-y", "192.0.2.79")); return err }, ErrInvalid},
		{"profile created by another replica",
			func(tx Tx) error { return tx.PutProfile(Profile{Name: "other"}) },
			func(m *Manager) error {
				_, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "other"}, true)
				return err
			}, ErrConflict},
		{"host added to the pod by another replica",
			func(tx Tx) error { return tx.PutHost(Host{MAC: "52:54:00:00:00:97", Pod: "pod-a"}) },
			func(m *Manager) error { return m.DeletePod(ctx, admin, "pod-a", false) }, ErrConflict},
		{"profile put in use by another replica's pod",
			func(tx Tx) error { return nil },
			func(m *Manager) error {
				if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "p2"}, true); err != nil {
					return err
				}
				p := testPod("pod-z", "192.0.2.80")
				p.Profile = "p2"
				if err := m.Store().Update(ctx, func(tx Tx) error { return tx.PutPod(p) }); err != nil {
					return err
				}
				return m.DeleteProfile(ctx, admin, "p2")
			}, ErrConflict},
		{"token name taken by another replica",
			func(tx Tx) error { return tx.PutToken(Token{ID: "abc", Name: "ci", Role: RoleCI}) },
			func(m *Manager) error { _, _, err := m.CreateToken(ctx, admin, "ci", RoleCI); return err }, ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newTestManager(t)
			seed(t, m)
			behindBack(t, m, tc.other)
			if err := tc.do(m); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
