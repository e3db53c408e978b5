package podmgr

import (
	"maps"
	"slices"
)

// HostPage is one page of a pod's hosts, sorted by MAC, how many hosts matched, and
// all the pod's hosts by state.
type HostPage struct {
	Hosts  []Host
	Total  int
	States map[HostState]int
}

// HostsPage returns the hosts of pod that keep accepts (nil: all), sorted by MAC, from
// offset on, at most limit of them (limit < 1: all). Only the page is copied: a reader
// of a pod with a hundred thousand hosts (the web UI, service discovery filtered by pod)
// pays for the MACs it sorts, not for copying every host. keep runs under the registry's
// read lock: it must be quick and must not call the registry.
func (r *Registry) HostsPage(pod string, keep func(*Host) bool, offset, limit int) HostPage {
	r.mu.RLock()
	defer r.mu.RUnlock()
	macs := make([]string, 0, len(r.podHosts[pod]))
	for mac, h := range r.podHosts[pod] {
		if keep == nil || keep(h) {
			macs = append(macs, mac)
		}
	}
	slices.Sort(macs)
	page := HostPage{Total: len(macs), States: maps.Clone(r.states[pod])}
	if offset < 0 || offset >= len(macs) {
		return page
	}
	macs = macs[offset:]
	if limit > 0 && len(macs) > limit {
		macs = macs[:limit]
	}
	page.Hosts = make([]Host, len(macs))
	for i, mac := range macs {
		page.Hosts[i] = *r.podHosts[pod][mac]
	}
	return page
}
