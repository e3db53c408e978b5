package podmgr

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrDiscoverLimit says a pod already holds as many discovered hosts as it may.
var ErrDiscoverLimit = errors.New("discovered-host limit reached")

// AddHosts registers hosts, all or none: one bad row refuses the whole batch, naming it.
// A MAC may be registered once across all pods; a reservation, a hostname and a
// management address once within its pod.
func (m *Manager) AddHosts(ctx context.Context, a Actor, hs []Host) ([]Host, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if len(hs) == 0 {
		return nil, fmt.Errorf("%w: no hosts given", ErrInvalid)
	}
	now := m.now().UTC()
	out, err := m.prepareNewHosts(hs, newPodIdentities(m.reg), now)
	if err != nil {
		return nil, err
	}
	if c, ok := m.store.(HostChunker); ok && len(out) > c.HostsPerTxn(false) {
		if err := m.importHosts(ctx, a, newHostRows(out), c.HostsPerTxn(false)); err != nil {
			return nil, err
		}
		return out, nil
	}
	err = m.update(ctx, func(tx Tx) error {
		if err := checkNewHosts(tx, out); err != nil {
			return err
		}
		for i := range out {
			h := out[i]
			if err := tx.PutHost(h); err != nil {
				return err
			}
			if _, err := tx.AppendEvent(Event{Time: now, Kind: KindHost, Pod: h.Pod, MAC: h.MAC, Actor: a.Name, Source: a.Source, Action: "registered", State: StateRegistered}); err != nil {
				return err
			}
		}
		detail := out[0].MAC
		if len(out) > 1 {
			detail = fmt.Sprintf("%d hosts", len(out))
		}
		return m.audit(tx, a, "host.add", out[0].Pod, "", detail)
	})
	if err != nil {
		return nil, fmt.Errorf("save %d hosts: %w", len(out), err)
	}
	m.log.Info("hosts added", "count", len(out), "pod", out[0].Pod, "actor", a.Name)
	return out, nil
}

// prepareNewHosts checks hosts to register against the registry (ids: the hostnames and
// management addresses taken so far, shared with the rest of an import) and returns
// them as they will be stored. One bad row refuses them all, naming it.
func (m *Manager) prepareNewHosts(hs []Host, ids *podIdentities, now time.Time) ([]Host, error) {
	seenMAC := map[string]int{}
	seenIP := map[string]string{}
	out := make([]Host, len(hs))
	for i, h := range hs {
		row := func(err error) error {
			if len(hs) == 1 {
				return err
			}
			return fmt.Errorf("host %d of %d: %w", i+1, len(hs), err)
		}
		pc, ok := m.reg.Pod(h.Pod)
		if !ok {
			if h.Pod == "" {
				return nil, row(fmt.Errorf("%w: host %s: name its pod", ErrInvalid, h.MAC))
			}
			return nil, row(fmt.Errorf("%w: host %s: pod %q does not exist", ErrInvalid, h.MAC, h.Pod))
		}
		if err := validateHost(&h, pc); err != nil {
			return nil, row(err)
		}
		if h.Profile != "" {
			if _, ok := m.reg.Profile(h.Profile); !ok {
				return nil, row(fmt.Errorf("%w: host %s: profile %q does not exist", ErrInvalid, h.MAC, h.Profile))
			}
		}
		if old, ok := m.reg.Host(h.MAC); ok {
			return nil, row(fmt.Errorf("%w: MAC %s is already registered in pod %s", ErrConflict, h.MAC, old.Pod))
		}
		if j, dup := seenMAC[h.MAC]; dup {
			return nil, row(fmt.Errorf("%w: MAC %s appears twice (rows %d and %d)", ErrConflict, h.MAC, j+1, i+1))
		}
		seenMAC[h.MAC] = i
		if h.ProvisioningIP != "" {
			ipKey := h.Pod + "/" + h.ProvisioningIP
			if owner, ok := m.reg.ReservedBy(h.Pod, mustAddr(h.ProvisioningIP)); ok {
				return nil, row(fmt.Errorf("%w: host %s: address %s in pod %s is already reserved for %s", ErrConflict, h.MAC, h.ProvisioningIP, h.Pod, owner))
			}
			if owner, dup := seenIP[ipKey]; dup {
				return nil, row(fmt.Errorf("%w: host %s: address %s in pod %s is also given to %s", ErrConflict, h.MAC, h.ProvisioningIP, h.Pod, owner))
			}
			seenIP[ipKey] = h.MAC
		}
		if err := ids.claim(h); err != nil {
			return nil, row(err)
		}
		h.State, h.StateReason, h.Netboot = StateRegistered, "", true
		h.TokenHash, h.TokenExpires = "", time.Time{}
		h.Discovered, h.CreatedAt, h.UpdatedAt = false, now, now
		out[i] = h
	}
	return out, nil
}

// checkNewHosts repeats AddHosts' checks against the store inside the write
// transaction: another replica sharing the store may have registered a MAC, deleted or
// changed the pod (a host it would strand) or deleted the profile since the registry was
// read. (Reservations are the store's own index: PutHost refuses a taken address.)
func checkNewHosts(tx Tx, hs []Host) error {
	if p, ok := tx.(HostPrefetcher); ok {
		if err := p.PrefetchHosts(hs); err != nil {
			return err
		}
	}
	checked := map[string]bool{}          // profiles, read once per batch
	fits := map[string]func(Host) error{} // pods, read once per batch
	for _, h := range hs {
		if old, ok, err := tx.Host(h.MAC); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: MAC %s is already registered in pod %s", ErrConflict, h.MAC, old.Pod)
		}
		fit, ok := fits[h.Pod]
		if !ok {
			p, exists, err := tx.Pod(h.Pod)
			if err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("%w: pod %q does not exist", ErrInvalid, h.Pod)
			}
			if fit, err = HostFits(p); err != nil {
				return fmt.Errorf("pod %s as stored: %w", h.Pod, err)
			}
			fits[h.Pod] = fit
		}
		// The pod may have changed since the registry was read (another replica).
		if err := fit(h); err != nil {
			return fmt.Errorf("%w: pod %s was changed meanwhile: %v", ErrConflict, h.Pod, err)
		}
		if h.Profile != "" && !checked["profile/"+h.Profile] {
			if err := mustExist(tx.Profile, "profile", h.Profile); err != nil {
				return err
			}
			checked["profile/"+h.Profile] = true
		}
	}
	return nil
}

// HostPrefetcher is a transaction that reads what registering hosts reads (the hosts,
// their reservations, their events) faster at once than one by one (etcd: one request
// instead of round trips per host).
type HostPrefetcher interface {
	PrefetchHosts(hs []Host) error
}

// mustExist reads name through get inside a transaction and says when it is missing.
func mustExist[T any](get func(string) (T, bool, error), kind, name string) error {
	_, ok, err := get(name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s %q does not exist", ErrInvalid, kind, name)
	}
	return nil
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// DeleteHost removes a host and its history stays in the event log.
func (m *Manager) DeleteHost(ctx context.Context, a Actor, mac string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return err
	}
	h, ok := m.reg.Host(mac)
	if !ok {
		return fmt.Errorf("%w: host %s", ErrNotFound, mac)
	}
	err = m.update(ctx, func(tx Tx) error {
		if err := tx.DeleteHost(mac); err != nil {
			return err
		}
		// The host's history outlives it: the deletion is its last event.
		if _, err := tx.AppendEvent(Event{Time: m.now().UTC(), Kind: KindHost, Pod: h.Pod, MAC: mac, Actor: a.Name, Source: a.Source, Action: "host.deleted"}); err != nil {
			return err
		}
		return m.audit(tx, a, "host.delete", h.Pod, mac, "")
	})
	if err != nil {
		return fmt.Errorf("delete host %s: %w", mac, err)
	}
	m.log.Info("host deleted", "pod", h.Pod, "host", mac, "actor", a.Name)
	return nil
}

// HostUpdate changes a host's provisioning state; nil fields stay as they are.
type HostUpdate struct {
	State        HostState // "" keeps the state
	Reason       string
	Netboot      *bool
	TokenHash    *string
	TokenExpires *time.Time
	// From, when set, moves the state only if the host is still in this state: an
	// event queued off the hot path (the DHCP offer) must not undo what happened
	// to the host after it was queued (a failure, a reprovision).
	From HostState
}

// RecordHostEvent appends a host event and, when u.State is set and lies ahead of the
// host's state, moves the host to it. It is what the DHCP and boot paths call; writes
// from many hosts share commits. (The agent's steps go through HostTokenEvent.) guards
// run in the transaction of a registered host's write (HostGuard).
func (m *Manager) RecordHostEvent(ctx context.Context, mac, source, action, detail string, u HostUpdate, guards ...HostGuard) (Host, error) {
	now := m.now().UTC()
	var saved Host
	var found bool
	err := m.batch(ctx, func(tx Tx) error {
		h, ok, err := tx.Host(mac)
		if err != nil {
			return err
		}
		found = ok
		ev := Event{Time: now, Kind: KindHost, MAC: mac, Source: source, Action: action, Detail: detail, State: u.State}
		if ok {
			ev.State = advance(&h, u, now)
			if err := tx.PutHost(h); err != nil {
				return err
			}
			ev.Pod = h.Pod
			saved = h
			for _, g := range guards {
				if err := g(tx, h); err != nil {
					return err
				}
			}
		}
		_, err = tx.AppendEvent(ev)
		return err
	})
	if err != nil {
		return Host{}, fmt.Errorf("record %s for host %s: %w", action, mac, err)
	}
	if !found {
		return Host{}, fmt.Errorf("%w: host %s", ErrNotFound, mac)
	}
	m.subs.publish(Event{Time: now, Kind: KindHost, Pod: saved.Pod, MAC: mac, Source: source, Action: action, Detail: detail, State: saved.State})
	m.log.Info("host event", "pod", saved.Pod, "host", mac, "action", action, "state", saved.State, "source", source, "detail", detail)
	return saved, nil
}

// advance applies a service's update to h and returns the state its event records. A
// late event from a service (an offer after the script, a file after verification)
// records history but does not move the host back: the event then carries the state the
// host stays in.
func advance(h *Host, u HostUpdate, now time.Time) HostState {
	if u.State != "" && (!forward(h.State, u.State) || (u.From != "" && h.State != u.From)) {
		u.State = ""
		applyUpdate(h, u, now)
		return h.State
	}
	applyUpdate(h, u, now)
	return u.State
}

func applyUpdate(h *Host, u HostUpdate, now time.Time) {
	if u.State != "" {
		h.State, h.StateReason = u.State, u.Reason
	}
	if u.Netboot != nil {
		h.Netboot = *u.Netboot
	}
	if u.TokenHash != nil {
		h.TokenHash = *u.TokenHash
	}
	if u.TokenExpires != nil {
		h.TokenExpires = *u.TokenExpires
	}
	h.UpdatedAt = now
}

// DiscoverInfo is what an unknown host's firmware said about itself.
type DiscoverInfo struct {
	Arch        string
	VendorClass string
	GUID        string
	Source      string
}

// Discover records an unknown MAC seen in a pod whose policy is discover, so an operator
// can accept it. The number of discovered hosts per pod is capped.
func (m *Manager) Discover(ctx context.Context, pod, mac string, info DiscoverInfo) (Host, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if h, ok := m.reg.Host(mac); ok {
		return h, nil
	}
	pc, ok := m.reg.Pod(pod)
	if !ok {
		return Host{}, fmt.Errorf("%w: pod %s", ErrNotFound, pod)
	}
	if n := m.reg.discoveredCount(pod); n >= pc.DiscoverLimit() {
		return Host{}, fmt.Errorf("discover host %s in pod %s: %w (%d)", mac, pod, ErrDiscoverLimit, n)
	}
	now := m.now().UTC()
	h := Host{MAC: mac, Pod: pod, State: StateDiscovered, Netboot: true, Discovered: true,
		Arch: info.Arch, VendorClass: info.VendorClass, GUID: info.GUID, CreatedAt: now, UpdatedAt: now}
	err := m.batch(ctx, func(tx Tx) error {
		if _, ok, err := tx.Host(mac); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: host %s was registered meanwhile", ErrConflict, mac)
		}
		if err := tx.PutHost(h); err != nil {
			return err
		}
		_, err := tx.AppendEvent(Event{Time: now, Kind: KindHost, Pod: pod, MAC: mac, Source: info.Source, Action: "discovered", State: StateDiscovered,
			Detail: fmt.Sprintf("arch=%s vendor-class=%q guid=%s", info.Arch, info.VendorClass, info.GUID)})
		return err
	})
	if err != nil {
		return Host{}, fmt.Errorf("discover host %s in pod %s: %w", mac, pod, err)
	}
	m.log.Info("host discovered", "pod", pod, "host", mac, "arch", info.Arch)
	return h, nil
}

// HostEvents returns a host's events, oldest first.
func (m *Manager) HostEvents(ctx context.Context, mac string) ([]Event, error) {
	return m.HostEventsPage(ctx, mac, 0, 0)
}

// HostEventsPage returns at most limit (0: all) of a host's events after seq after,
// oldest first.
func (m *Manager) HostEventsPage(ctx context.Context, mac string, after uint64, limit int) ([]Event, error) {
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return nil, err
	}
	var evs []Event
	err = m.store.View(ctx, func(tx ReadTx) error {
		var err error
		evs, err = tx.Events(EventFilter{Kind: KindHost, MAC: mac, After: after, Limit: limit})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("events of host %s: %w", mac, err)
	}
	if len(evs) == 0 && after == 0 {
		if _, ok := m.reg.Host(mac); !ok {
			return nil, fmt.Errorf("%w: host %s", ErrNotFound, mac)
		}
	}
	return evs, nil
}

// Events returns events matching f.
func (m *Manager) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	var evs []Event
	err := m.store.View(ctx, func(tx ReadTx) error {
		var err error
		evs, err = tx.Events(f)
		return err
	})
	return evs, err
}

// stateRank orders the states a service may move a host through; registered, discovered
// and failed all start a (new) attempt.
func stateRank(s HostState) int {
	switch s {
	case StateOffered:
		return 1
	case StateBooting:
		return 2
	case StateVerified:
		return 3
	case StateInstalling:
		return 4
	case StateProvisioned:
		return 5
	}
	return 0
}

// forward reports whether moving from cur to next goes ahead in the provisioning.
func forward(cur, next HostState) bool { return stateRank(next) > stateRank(cur) }
