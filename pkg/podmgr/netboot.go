package podmgr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errNetbootUnchanged aborts the write of SetNetboot when the host already has the
// netboot setting asked for: nothing is stored, audited or published.
var errNetbootUnchanged = errors.New("netboot unchanged")

// SetNetboot turns a host's netboot off or on by hand, outside the provisioning flow.
// It reports whether anything changed; asking for the setting the host already has is
// not an error and writes nothing (so "on" never disturbs a boot in progress).
//
//   - off: netboot false and the provisioning token dropped, so DHCP, TFTP, the iPXE
//     script and the agent API refuse the host at their next request; the state stays
//     where the host got to (an install in progress stops at its next gate).
//   - on: netboot true with no token (the next iPXE script issues one, as after
//     reprovision); the host returns to registered, a discovered host stays discovered,
//     so the boot that follows moves it forward again from the start. A provisioned host
//     is refused with ErrConflict: turning its netboot on would install it again, which
//     is what `reprovision` is for.
//
// The change, its host event and its audit event are one transaction; the registry (and
// so every gate) sees it when SetNetboot returns.
func (m *Manager) SetNetboot(ctx context.Context, a Actor, mac string, on bool) (Host, bool, error) {
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return Host{}, false, err
	}
	action := netbootAction(on)
	h, err := m.hostUpdate(ctx, mac, func(h *Host) (Event, error) { return applyNetboot(h, a, on) },
		func(tx Tx, h Host) error { return m.audit(tx, a, "host."+action, h.Pod, mac, "") })
	if errors.Is(err, errNetbootUnchanged) {
		cur, ok := m.reg.Host(mac)
		if !ok {
			return Host{}, false, fmt.Errorf("%w: host %s", ErrNotFound, mac)
		}
		return cur, false, nil
	}
	if err != nil {
		return Host{}, false, fmt.Errorf("set netboot %s: %w", onOff(on), err)
	}
	return h, true, nil
}

func netbootAction(on bool) string { return "netboot." + onOff(on) }

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// applyNetboot changes h as SetNetboot documents and returns the host event.
func applyNetboot(h *Host, a Actor, on bool) (Event, error) {
	if h.Netboot == on {
		return Event{}, errNetbootUnchanged
	}
	if on && h.State == StateProvisioned {
		return Event{}, fmt.Errorf("%w: host %s is provisioned: turning its netboot on would install it again; use 'podboot host reprovision %s'", ErrConflict, h.MAC, h.MAC)
	}
	ev := Event{Actor: a.Name, Source: a.Source, Action: netbootAction(on)}
	h.Netboot = on
	h.TokenHash, h.TokenExpires = "", time.Time{}
	if !on {
		ev.State, ev.Detail = h.State, "netboot off by hand; DHCP, TFTP, iPXE script and agent refuse the host"
		return ev, nil
	}
	if h.State != StateDiscovered {
		h.State, h.StateReason = StateRegistered, ""
	}
	ev.State, ev.Detail = h.State, "netboot on by hand; a new token comes with the next iPXE script"
	return ev, nil
}
