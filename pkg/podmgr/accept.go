package podmgr

import (
	"context"
	"fmt"
	"time"
)

// AcceptHost turns a discovered host (an unknown MAC seen in a pod whose policy is
// discover) into a registered one with a hostname, a management address and
// optionally a profile. Until then the agent API gives it inspection only (inventory,
// no stage2, no kickstart): accepting is what lets it be installed, on its next boot.
func (m *Manager) AcceptHost(ctx context.Context, a Actor, mac, hostname, mgmtIP, profile string) (Host, error) {
	return m.acceptHost(ctx, a, mac, hostname, mgmtIP, profile, "")
}

// acceptHost is AcceptHost; why (what an accept rule matched) goes into the event.
func (m *Manager) acceptHost(ctx context.Context, a Actor, mac, hostname, mgmtIP, profile, why string) (Host, error) {
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return Host{}, err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	cur, ok := m.reg.Host(mac)
	if !ok {
		return Host{}, fmt.Errorf("%w: host %s", ErrNotFound, mac)
	}
	if !cur.Discovered {
		return Host{}, fmt.Errorf("%w: host %s is registered, not discovered: nothing to accept", ErrConflict, mac)
	}
	pc, ok := m.reg.Pod(cur.Pod)
	if !ok {
		return Host{}, fmt.Errorf("%w: pod %s", ErrNotFound, cur.Pod)
	}
	next := cur
	next.Hostname, next.ManagementIP, next.Profile = hostname, mgmtIP, profile
	if hostname == "" {
		return Host{}, fmt.Errorf("%w: accept %s: give it a hostname", ErrInvalid, mac)
	}
	if err := validateHost(&next, pc); err != nil {
		return Host{}, err
	}
	if profile != "" {
		if _, ok := m.reg.Profile(profile); !ok {
			return Host{}, fmt.Errorf("%w: host %s: profile %q does not exist", ErrInvalid, mac, profile)
		}
	}
	if err := newPodIdentities(m.reg).claim(next); err != nil {
		return Host{}, err
	}
	return m.hostUpdate(ctx, mac, func(h *Host) (Event, error) {
		if !h.Discovered {
			return Event{}, fmt.Errorf("%w: host %s was accepted meanwhile", ErrConflict, mac)
		}
		h.Hostname, h.ManagementIP, h.Profile = next.Hostname, next.ManagementIP, next.Profile
		h.Discovered, h.State, h.StateReason, h.Netboot = false, StateRegistered, "", true
		h.TokenHash, h.TokenExpires = "", time.Time{}
		detail := fmt.Sprintf("hostname=%s mgmt-ip=%s profile=%s; installed on its next boot", h.Hostname, h.ManagementIP, h.Profile)
		if why != "" {
			detail += "; matched " + why
		}
		return Event{Actor: a.Name, Source: a.Source, Action: "accepted", State: StateRegistered, Detail: detail}, nil
	}, func(tx Tx, h Host) error {
		// Another replica may have deleted the profile since the registry was read.
		if h.Profile != "" {
			if err := mustExist(tx.Profile, "profile", h.Profile); err != nil {
				return err
			}
		}
		return m.audit(tx, a, "host.accept", h.Pod, mac, h.Hostname)
	})
}
