// Package podmgr holds podboot's data model — pods, profiles, hosts, tokens, leases and
// events — the durable Store behind it, and the in-memory Registry the DHCP and boot
// services read on their hot path.
//
// Every change goes through the Manager: it validates against the registry and commits
// to the store together with the audit event. The registry learns of every commit, this
// process's and other replicas', from the store's change feed (feed.go), in commit
// order; the Manager returns once the registry shows its own commit. So the services
// see a change on the next packet, with no restart, and never see a change the store
// does not have.
package podmgr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Actor is who makes a change: a token through the API, or a service.
type Actor struct {
	Name   string
	Role   Role
	Source string // remote address
	// TokenID is the API token acting ("" for a service).
	TokenID string
	// Push is what a ci token may push (see Token.AllowKinds).
	Push PushGrant
}

// Manager applies changes to the store and the registry.
type Manager struct {
	store Store
	reg   *Registry
	log   *slog.Logger
	now   func() time.Time
	// wmu serialises configuration changes so validation against the registry and the
	// commit are one step. Host events from the services do not take it.
	wmu           sync.Mutex
	profileChecks []ProfileCheck
	subs          *subscribers
	// feed keeps reg following the store (feed.go).
	feed *follower
}

// Open loads the store into a new registry, which then follows the store's change feed
// until the store is closed.
func Open(ctx context.Context, st Store, log *slog.Logger) (*Manager, error) {
	m := &Manager{store: st, reg: newRegistry(), log: log, now: time.Now, subs: newSubscribers()}
	m.feed = newFollower(m)
	if err := st.Follow(ctx, m.feed); err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	// Loading made garbage the size of the store; give it back before serving.
	debug.FreeOSMemory()
	return m, nil
}

// Registry is the in-memory picture the services read.
func (m *Manager) Registry() *Registry { return m.reg }

// Store is the durable store (the DHCP service keeps its leases there).
func (m *Manager) Store() Store { return m.store }

func (m *Manager) audit(tx Tx, a Actor, action, pod, mac, detail string) error {
	_, err := tx.AppendEvent(Event{Time: m.now().UTC(), Kind: KindAudit, Actor: a.Name, Source: a.Source, Action: action, Pod: pod, MAC: mac, Detail: detail})
	return err
}

// ---- pods ----

// CreatePod registers a new pod; it fails with ErrConflict when the name is taken.
func (m *Manager) CreatePod(ctx context.Context, a Actor, p Pod) (Pod, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if _, ok := m.reg.Pod(p.Name); ok {
		return Pod{}, fmt.Errorf("%w: pod %s already exists: use 'pod apply' to change it", ErrConflict, p.Name)
	}
	return m.putPodLocked(ctx, a, p, "pod.create")
}

// ApplyPod creates or updates a pod from its intent; changed is false when the stored
// pod already says exactly this.
func (m *Manager) ApplyPod(ctx context.Context, a Actor, p Pod) (Pod, bool, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if old, ok := m.reg.Pod(p.Name); ok {
		p.CreatedAt, p.UpdatedAt = old.Pod.CreatedAt, old.Pod.UpdatedAt
		if pc, err := validatePod(&p); err == nil && sameRecord(pc.Pod, old.Pod) {
			return old.Pod, false, nil
		}
		out, err := m.putPodLocked(ctx, a, p, "pod.update")
		return out, err == nil, err
	}
	out, err := m.putPodLocked(ctx, a, p, "pod.create")
	return out, err == nil, err
}

func (m *Manager) putPodLocked(ctx context.Context, a Actor, p Pod, action string) (Pod, error) {
	pc, err := validatePod(&p)
	if err != nil {
		return Pod{}, err
	}
	if err := checkPodInput(pc); err != nil {
		return Pod{}, err
	}
	prof, ok := m.reg.Profile(pc.Pod.Profile)
	if !ok {
		return Pod{}, fmt.Errorf("%w: pod %s: profile %q does not exist: create it first with 'podboot profile apply'", ErrInvalid, p.Name, pc.Pod.Profile)
	}
	pc.Profile = prof
	for _, k := range pc.rules {
		if owner, ok := m.reg.ruleOwner(k); ok && owner != p.Name {
			return Pod{}, fmt.Errorf("%w: pod %s: match rule {%s} is already pod %s's: the two pods could not be told apart; add a circuitId, remoteId, relaySource or linkSelection that differs", ErrConflict, p.Name, k, owner)
		}
	}
	now := m.now().UTC()
	if old, ok := m.reg.Pod(p.Name); ok {
		if err := m.checkHostsFit(pc, old); err != nil {
			return Pod{}, err
		}
	} else {
		// A new pod is a new incarnation whatever createdAt the client sent: the DHCP
		// lease table tells a re-created pod from the deleted one by it.
		pc.Pod.CreatedAt = now
	}
	pc.Pod.UpdatedAt = now
	err = m.update(ctx, func(tx Tx) error {
		// The registry said so; the store says so for every replica sharing it.
		if _, exists, err := tx.Pod(p.Name); err != nil {
			return err
		} else if exists && action == "pod.create" {
			return fmt.Errorf("%w: pod %s already exists: use 'pod apply' to change it", ErrConflict, p.Name)
		}
		if err := mustExist(tx.Profile, "profile", pc.Pod.Profile); err != nil {
			return err
		}
		if err := tx.PutPod(pc.Pod); err != nil {
			return err
		}
		return m.audit(tx, a, action, p.Name, "", "")
	})
	if err != nil {
		return Pod{}, fmt.Errorf("save pod %s: %w", p.Name, err)
	}
	m.log.Info("pod saved", "pod", p.Name, "action", action, "actor", a.Name)
	return pc.Pod, nil
}

// checkHostsFit refuses a pod change that would leave a reservation outside the subnets
// or on an address no host may have (a new gateway or giaddr).
func (m *Manager) checkHostsFit(pc, old *PodContext) error {
	if slices.EqualFunc(pc.Subnets, old.Subnets, func(a, b parsedSubnet) bool { return a.Prefix == b.Prefix && a.Router == b.Router }) &&
		slices.Equal(pc.rules, old.rules) {
		return nil
	}
	for _, h := range m.reg.HostsOfPod(pc.Pod.Name) {
		hc := h
		if err := validateHost(&hc, pc); err != nil {
			return fmt.Errorf("%w: pod %s: the change would strand host %s: %v", ErrConflict, pc.Pod.Name, h.MAC, err)
		}
	}
	return nil
}

// sameRecord reports whether two records encode to the same bytes: what an idempotent
// apply compares. A record that cannot be encoded is never the same.
func sameRecord(a, b any) bool {
	ea, errA := encode(a)
	eb, errB := encode(b)
	return errA == nil && errB == nil && string(ea) == string(eb)
}

// DeletePod removes a pod. A pod with hosts is refused unless force, which removes the
// hosts and leases too.
func (m *Manager) DeletePod(ctx context.Context, a Actor, name string, force bool) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if _, ok := m.reg.Pod(name); !ok {
		return fmt.Errorf("%w: pod %s", ErrNotFound, name)
	}
	if n := m.reg.HostCount(name); n > 0 && !force {
		return fmt.Errorf("%w: pod %s still has %d hosts: delete them first, or pass --force to delete the pod with its hosts", ErrConflict, name, n)
	}
	err := m.update(ctx, func(tx Tx) error {
		if macs, err := tx.HostsOfPod(name); err != nil {
			return err
		} else if len(macs) > 0 && !force {
			return fmt.Errorf("%w: pod %s still has %d hosts: delete them first, or pass --force to delete the pod with its hosts", ErrConflict, name, len(macs))
		}
		if err := tx.DeletePod(name); err != nil {
			return err
		}
		return m.audit(tx, a, "pod.delete", name, "", fmt.Sprintf("force=%v", force))
	})
	if err != nil {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	m.log.Info("pod deleted", "pod", name, "actor", a.Name)
	return nil
}

// Pods returns every pod, sorted by name.
func (m *Manager) Pods() []Pod {
	var out []Pod
	for _, n := range m.reg.PodNames() {
		if pc, ok := m.reg.Pod(n); ok {
			out = append(out, pc.Pod)
		}
	}
	return out
}

// ---- profiles ----

// ApplyProfile creates or updates a profile; changed is false when nothing differs.
// create refuses an existing name.
func (m *Manager) ApplyProfile(ctx context.Context, a Actor, p Profile, create bool) (Profile, bool, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if err := validateProfile(&p); err != nil {
		return Profile{}, false, err
	}
	for _, check := range m.profileChecks {
		if err := check(p); err != nil {
			return Profile{}, false, fmt.Errorf("%w: profile %s: %v", ErrInvalid, p.Name, err)
		}
	}
	action := "profile.create"
	if old, ok := m.reg.Profile(p.Name); ok {
		if create {
			return Profile{}, false, fmt.Errorf("%w: profile %s already exists: use 'profile apply' to change it", ErrConflict, p.Name)
		}
		p.CreatedAt, p.UpdatedAt = old.CreatedAt, old.UpdatedAt
		if sameRecord(p, old) {
			return old, false, nil
		}
		action = "profile.update"
	}
	now := m.now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.UpdatedAt = now
	err := m.update(ctx, func(tx Tx) error {
		if _, exists, err := tx.Profile(p.Name); err != nil {
			return err
		} else if exists && action == "profile.create" {
			return fmt.Errorf("%w: profile %s already exists: use 'profile apply' to change it", ErrConflict, p.Name)
		}
		if err := tx.PutProfile(p); err != nil {
			return err
		}
		return m.audit(tx, a, action, "", "", p.Name)
	})
	if err != nil {
		return Profile{}, false, fmt.Errorf("save profile %s: %w", p.Name, err)
	}
	return p, true, nil
}

// DeleteProfile removes a profile no pod or host uses.
func (m *Manager) DeleteProfile(ctx context.Context, a Actor, name string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if _, ok := m.reg.Profile(name); !ok {
		return fmt.Errorf("%w: profile %s", ErrNotFound, name)
	}
	for _, p := range m.Pods() {
		if p.Profile == name {
			return fmt.Errorf("%w: profile %s is used by pod %s", ErrConflict, name, p.Name)
		}
	}
	if mac, ok := m.reg.hostWithProfile(name); ok {
		return fmt.Errorf("%w: profile %s is the profile override of host %s", ErrConflict, name, mac)
	}
	err := m.update(ctx, func(tx Tx) error {
		pods, err := tx.Pods()
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.Profile == name {
				return fmt.Errorf("%w: profile %s is used by pod %s", ErrConflict, name, p.Name)
			}
		}
		if err := tx.DeleteProfile(name); err != nil {
			return err
		}
		return m.audit(tx, a, "profile.delete", "", "", name)
	})
	if err != nil {
		return fmt.Errorf("delete profile %s: %w", name, err)
	}
	return nil
}

// Profiles returns every profile, sorted by name.
func (m *Manager) Profiles() []Profile {
	m.reg.mu.RLock()
	out := make([]Profile, 0, len(m.reg.profiles))
	for _, p := range m.reg.profiles {
		out = append(out, p)
	}
	m.reg.mu.RUnlock()
	slices.SortFunc(out, func(a, b Profile) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ProfileCheck validates a profile beyond its fields (the boot service checks that its
// templates render). Checks are added before serving starts.
type ProfileCheck func(Profile) error

// AddProfileCheck registers a check that every saved profile must pass.
func (m *Manager) AddProfileCheck(c ProfileCheck) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.profileChecks = append(m.profileChecks, c)
}

// ---- errors ----

// IsNotFound and friends let callers map errors without importing errors.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
