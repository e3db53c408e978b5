package podmgr

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Per-host provisioning tokens (SPEC section 7): 256-bit random, stored hashed, bound to
// one host, valid only while its netboot is on and until they expire. A token is issued
// each time the host's iPXE script is rendered (it travels on the stage1 kernel command
// line) and is consumed by the "installed" call-back, so a replayed call-back finds no
// token and is refused.

// HostTokenPrefix starts every per-host provisioning token.
const HostTokenPrefix = "pbh_"

// DefaultHostTokenTTL is how long a provisioning token is valid when nothing else is set.
const DefaultHostTokenTTL = 2 * time.Hour

// ErrHostToken says a provisioning token was refused. The message says why for the log;
// clients see only that it was refused.
var ErrHostToken = errors.New("provisioning token refused")

// IssueHostToken gives the host a new provisioning token, replacing any earlier one, and
// returns its secret (only the hash is kept). Hosts whose netboot is off get none.
func (m *Manager) IssueHostToken(ctx context.Context, mac, source string, ttl time.Duration) (string, error) {
	return m.IssueHostTokenWith(ctx, mac, source, ttl, HostStep{})
}

// HostStep is a service's host event, as RecordHostEvent takes it: State, when set,
// moves the host only forward.
type HostStep struct {
	Source, Action, Detail string
	State                  HostState
}

// IssueHostTokenWith is IssueHostToken that also records step (when it has an Action)
// in the same write transaction, after the token.issued event: the boot service's iPXE
// script request costs one commit for the token, its event and the move to booting.
// guards run in the transaction (HostGuard).
func (m *Manager) IssueHostTokenWith(ctx context.Context, mac, source string, ttl time.Duration, step HostStep, guards ...HostGuard) (string, error) {
	if ttl <= 0 {
		ttl = DefaultHostTokenTTL
	}
	secret, err := NewSecret(HostTokenPrefix)
	if err != nil {
		return "", err
	}
	now := m.now().UTC()
	hash, exp := HashSecret(secret), now.Add(ttl)
	_, err = m.hostUpdateSteps(ctx, mac, func(h *Host) ([]hostStep, error) {
		if !h.Netboot {
			return nil, fmt.Errorf("%w: host %s: netboot is off", ErrHostToken, mac)
		}
		h.TokenHash, h.TokenExpires = hash, exp
		steps := []hostStep{{ev: Event{Source: source, Action: "token.issued", Detail: "provisioning token valid until " + exp.Format(time.RFC3339)}, state: h.State}}
		if step.Action != "" {
			st := advance(h, HostUpdate{State: step.State}, now)
			steps = append(steps, hostStep{ev: Event{Source: step.Source, Action: step.Action, Detail: step.Detail, State: st}, state: h.State})
		}
		return steps, nil
	}, guards...)
	if err != nil {
		return "", err
	}
	return secret, nil
}

// CheckHostToken reports whether secret is the host's valid provisioning token, from the
// registry (no store access: this runs on every agent request).
func (m *Manager) CheckHostToken(mac, secret string) (Host, error) {
	h, ok := m.reg.Host(mac)
	if !ok {
		return Host{}, fmt.Errorf("%w: host %s is not registered", ErrHostToken, mac)
	}
	if err := tokenValid(h, secret, m.now()); err != nil {
		return Host{}, err
	}
	return h, nil
}

func tokenValid(h Host, secret string, now time.Time) error {
	switch {
	case !h.Netboot:
		return fmt.Errorf("%w: host %s: netboot is off", ErrHostToken, h.MAC)
	case h.TokenHash == "":
		return fmt.Errorf("%w: host %s has no provisioning token (used, or never issued)", ErrHostToken, h.MAC)
	case !strings.HasPrefix(secret, HostTokenPrefix):
		return fmt.Errorf("%w: host %s: not a provisioning token", ErrHostToken, h.MAC)
	case subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(h.TokenHash)) != 1:
		return fmt.Errorf("%w: host %s: token does not match", ErrHostToken, h.MAC)
	case !now.Before(h.TokenExpires):
		return fmt.Errorf("%w: host %s: token expired at %s", ErrHostToken, h.MAC, h.TokenExpires.Format(time.RFC3339))
	}
	return nil
}

// HostTokenEvent checks the token and, in the same transaction, records the event and
// applies u. Clearing the token in u (the "installed" call-back) makes any replay of the
// same request fail the check. guards run in the transaction (HostGuard).
func (m *Manager) HostTokenEvent(ctx context.Context, mac, secret, source, action, detail string, u HostUpdate, guards ...HostGuard) (Host, error) {
	now := m.now()
	return m.hostUpdate(ctx, mac, func(h *Host) (Event, error) {
		if err := tokenValid(*h, secret, now); err != nil {
			return Event{}, err
		}
		applyUpdate(h, u, now.UTC())
		return Event{Source: source, Action: action, Detail: detail, State: u.State}, nil
	}, guards...)
}

// Reprovision returns a host to registered with netboot on and no token: its next PXE
// boot installs it again (and gets a new token with its iPXE script).
func (m *Manager) Reprovision(ctx context.Context, a Actor, mac string) (Host, error) {
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return Host{}, err
	}
	h, err := m.hostUpdate(ctx, mac, func(h *Host) (Event, error) {
		h.State, h.StateReason, h.Netboot = StateRegistered, "", true
		h.TokenHash, h.TokenExpires = "", time.Time{}
		return Event{Actor: a.Name, Source: a.Source, Action: "reprovision", State: StateRegistered, Detail: "netboot on; a new token comes with the next iPXE script"}, nil
	}, func(tx Tx, h Host) error { return m.audit(tx, a, "host.reprovision", h.Pod, mac, "") })
	return h, err
}

// hostUpdate runs fn on the stored host inside one write transaction, stores the host,
// appends fn's event (kind host) and then updates the registry and the watchers.
func (m *Manager) hostUpdate(ctx context.Context, mac string, fn func(*Host) (Event, error), extra ...func(Tx, Host) error) (Host, error) {
	return m.hostUpdateSteps(ctx, mac, func(h *Host) ([]hostStep, error) {
		ev, err := fn(h)
		return []hostStep{{ev: ev}}, err
	}, extra...)
}

// hostStep is one event of a host write and the state the host is in after it, which
// is what watchers see ("" for the state the write leaves the host in).
type hostStep struct {
	ev    Event
	state HostState
}

// hostUpdateSteps is hostUpdate for a write that records several events in order.
func (m *Manager) hostUpdateSteps(ctx context.Context, mac string, fn func(*Host) ([]hostStep, error), extra ...func(Tx, Host) error) (Host, error) {
	now := m.now().UTC()
	var saved Host
	var steps []hostStep
	err := m.update(ctx, func(tx Tx) error {
		h, ok, err := tx.Host(mac)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: host %s", ErrNotFound, mac)
		}
		if steps, err = fn(&h); err != nil {
			return err
		}
		h.UpdatedAt = now
		if err := tx.PutHost(h); err != nil {
			return err
		}
		for i := range steps {
			ev := &steps[i].ev
			ev.Time, ev.Kind, ev.Pod, ev.MAC = now, KindHost, h.Pod, mac
			if _, err := tx.AppendEvent(*ev); err != nil {
				return err
			}
		}
		for _, x := range extra {
			if err := x(tx, h); err != nil {
				return err
			}
		}
		saved = h
		return nil
	})
	if err != nil {
		return Host{}, err
	}
	for _, st := range steps {
		m.publishStep(saved, st)
	}
	return saved, nil
}

// publishStep tells the watchers and the log about one committed host event.
func (m *Manager) publishStep(h Host, st hostStep) {
	pub := st.ev
	pub.State = cmp.Or(st.state, h.State)
	m.subs.publish(pub)
	m.log.Info("host event", "pod", h.Pod, "host", h.MAC, "action", pub.Action, "state", pub.State, "source", pub.Source, "detail", pub.Detail)
}
