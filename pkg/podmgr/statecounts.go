package podmgr

// A pod's hosts by state are counted as hosts are put and removed, not on each read: the
// fleet dashboard and the podboot_hosts metric read them for many pods at once, and a
// pass over a million hosts per read would cost seconds.

// countLocked adds n hosts in state to pod's count (under r.mu).
func (r *Registry) countLocked(pod string, state HostState, n int) {
	c, ok := r.states[pod]
	if !ok {
		c = map[HostState]int{}
		r.states[pod] = c
	}
	if c[state] += n; c[state] <= 0 {
		delete(c, state)
	}
}

// StateCounts counts a pod's hosts by state.
func (r *Registry) StateCounts(pod string) map[HostState]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[HostState]int, len(r.states[pod]))
	for s, n := range r.states[pod] {
		out[s] = n
	}
	return out
}
