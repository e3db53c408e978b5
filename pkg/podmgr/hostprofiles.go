package podmgr

import (
	"cmp"
	"slices"
)

// HostProfile is a host with a profile of its own, and that profile.
type HostProfile struct {
	Host    Host
	Profile Profile
}

// HostProfilesOfPod returns the pod's hosts that have a profile of their own (and that
// profile exists) for which keep returns true, sorted by MAC. Only the kept hosts are
// copied and sorted, so a caller looking for the few hosts that reference something
// does not pay for the whole pod. keep runs under the registry's read lock: it must not
// call the Registry.
func (r *Registry) HostProfilesOfPod(pod string, keep func(Host, Profile) bool) []HostProfile {
	var out []HostProfile
	r.mu.RLock()
	for _, h := range r.podHosts[pod] {
		if h.Profile == "" {
			continue
		}
		p, ok := r.profiles[h.Profile]
		if ok && keep(*h, p) {
			out = append(out, HostProfile{Host: *h, Profile: p})
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b HostProfile) int { return cmp.Compare(a.Host.MAC, b.Host.MAC) })
	return out
}
