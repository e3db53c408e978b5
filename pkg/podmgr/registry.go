package podmgr

import (
	"net/netip"
	"sort"
	"sync"
)

// PodContext is the parsed, immutable management context of one pod: what the DHCP and
// boot services need on their hot path. A change to the pod or its profile replaces the
// whole value; holders of an old pointer keep a consistent (old) picture.
type PodContext struct {
	Pod        Pod
	Profile    Profile
	Subnets    []parsedSubnet
	ServerAddr netip.Addr
	rules      []ruleKey
}

// SubnetFor returns the provisioning subnet that holds a.
func (pc *PodContext) SubnetFor(a netip.Addr) (Subnet, bool) {
	ps, ok := pc.subnetFor(a)
	return ps.Subnet, ok
}

func (pc *PodContext) subnetFor(a netip.Addr) (parsedSubnet, bool) {
	for _, s := range pc.Subnets {
		if s.Prefix.Contains(a) {
			return s, true
		}
	}
	return parsedSubnet{}, false
}

// SubnetInfo is a provisioning subnet with its addresses parsed.
type SubnetInfo struct {
	Subnet
	Prefix     netip.Prefix
	Router     netip.Addr   // invalid when the subnet has no gateway
	DNS        []netip.Addr // may be empty
	RangeFirst netip.Addr   // invalid when the subnet has no dynamic range
	RangeLast  netip.Addr
}

// SubnetInfoFor returns the parsed provisioning subnet that holds a.
func (pc *PodContext) SubnetInfoFor(a netip.Addr) (SubnetInfo, bool) {
	ps, ok := pc.subnetFor(a)
	if !ok {
		return SubnetInfo{}, false
	}
	return SubnetInfo{Subnet: ps.Subnet, Prefix: ps.Prefix, Router: ps.Router, DNS: ps.DNSAddrs, RangeFirst: ps.RangeFirst, RangeLast: ps.RangeLast}, true
}

// SubnetInfos returns all parsed provisioning subnets of the pod.
func (pc *PodContext) SubnetInfos() []SubnetInfo {
	out := make([]SubnetInfo, 0, len(pc.Subnets))
	for _, ps := range pc.Subnets {
		out = append(out, SubnetInfo{Subnet: ps.Subnet, Prefix: ps.Prefix, Router: ps.Router, DNS: ps.DNSAddrs, RangeFirst: ps.RangeFirst, RangeLast: ps.RangeLast})
	}
	return out
}

// DiscoverLimit is the cap on discovered hosts for the pod.
func (pc *PodContext) DiscoverLimit() int {
	if pc.Pod.DiscoverLimit > 0 {
		return pc.Pod.DiscoverLimit
	}
	return DefaultDiscoverLimit
}

// Registry is the in-memory picture of every pod, profile, host and token, built from the
// store at start-up and kept current by the store's change feed (feed.go). The DHCP and boot
// services read it, never the database, on their hot path.
type Registry struct {
	mu       sync.RWMutex
	pods     map[string]*PodContext
	profiles map[string]Profile
	hosts    map[string]*Host            // by normalised MAC
	podHosts map[string]map[string]*Host // pod -> MAC -> the host in hosts
	match    *matchIndex
	hostSrc  *hostSourceIndex
	tokens   map[string]Token // by hash
	// discovered counts discovered hosts per pod (for the discovery cap).
	discovered map[string]int
	// reserved maps pod -> reserved provisioning address -> MAC.
	reserved map[string]map[netip.Addr]string
	// states counts each pod's hosts by state, kept with the hosts (statecounts.go).
	states map[string]map[HostState]int
}

func newRegistry() *Registry {
	return &Registry{
		pods:       map[string]*PodContext{},
		profiles:   map[string]Profile{},
		hosts:      map[string]*Host{},
		podHosts:   map[string]map[string]*Host{},
		match:      newMatchIndex(),
		hostSrc:    newHostSourceIndex(),
		tokens:     map[string]Token{},
		discovered: map[string]int{},
		reserved:   map[string]map[netip.Addr]string{},
		states:     map[string]map[HostState]int{},
	}
}

// Resolve finds the pod a relayed packet belongs to: the most specific matching rule wins.
func (r *Registry) Resolve(k MatchKeys) (*PodContext, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.match.lookup(k)
	if !ok {
		return nil, false
	}
	pc, ok := r.pods[name]
	return pc, ok
}

// Pod returns a pod's context.
func (r *Registry) Pod(name string) (*PodContext, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	pc, ok := r.pods[name]
	return pc, ok
}

// PodNames returns every pod name, sorted.
func (r *Registry) PodNames() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.pods))
	for n := range r.pods {
		names = append(names, n)
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}

// Profile returns a profile by name.
func (r *Registry) Profile(name string) (Profile, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.profiles[name]
	return p, ok
}

// Host returns a host by its normalised MAC (see NormalizeMAC).
func (r *Registry) Host(mac string) (Host, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.hosts[mac]
	if !ok {
		return Host{}, false
	}
	return *h, true
}

// HostsOfPod returns copies of a pod's hosts, sorted by MAC.
func (r *Registry) HostsOfPod(pod string) []Host {
	r.mu.RLock()
	out := make([]Host, 0, len(r.podHosts[pod]))
	for _, h := range r.podHosts[pod] {
		out = append(out, *h)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out
}

// HostCount returns how many hosts a pod has ("" for all pods).
func (r *Registry) HostCount(pod string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if pod == "" {
		return len(r.hosts)
	}
	return len(r.podHosts[pod])
}

// EffectiveProfile is the host's profile override, or its pod's profile.
func (r *Registry) EffectiveProfile(h Host) (Profile, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h.Profile != "" {
		p, ok := r.profiles[h.Profile]
		return p, ok
	}
	pc, ok := r.pods[h.Pod]
	if !ok {
		return Profile{}, false
	}
	return pc.Profile, true
}

// BootFile is the boot file for a firmware kind: shimx64.efi for UEFI x64 under a
// Secure Boot distro profile, the UKI under a full one, else the host's override, the
// profile's choice, or the shipped default.
func BootFile(h Host, p Profile, kind Firmware) string {
	if kind == FirmwareEFIx64 && p.SecureBoot == SecureBootDistro {
		return ShimName // only the signed chain boots under Secure Boot
	}
	if kind == FirmwareEFIx64 && p.SecureBoot == SecureBootFull {
		return p.UKI
	}
	pick := func(b Bootloaders) string {
		switch kind {
		case FirmwareBIOS:
			return b.BIOS
		case FirmwareEFIx64:
			return b.EFIx64
		case FirmwareEFIARM64:
			return b.EFIARM64
		}
		return ""
	}
	for _, b := range []Bootloaders{h.Bootloaders, p.Bootloaders, defaultBootloaders} {
		if f := pick(b); f != "" {
			return f
		}
	}
	return ""
}

// Firmware is the kind of boot firmware, from DHCP option 93.
type Firmware int

// Firmware kinds podboot has boot files for.
const (
	FirmwareUnknown Firmware = iota
	FirmwareBIOS
	FirmwareEFIx64
	FirmwareEFIARM64
)

// tokenByHash returns the token whose secret hashes to hash.
func (r *Registry) tokenByHash(hash string) (Token, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tokens[hash]
	return t, ok
}

// The mutators below run under r.mu, from the change feed (feed.go) only.

func (r *Registry) putPodLocked(pc *PodContext) {
	if old, ok := r.pods[pc.Pod.Name]; ok {
		for _, k := range old.rules {
			r.match.remove(k)
		}
		r.hostSrc.update(old, -1)
	}
	r.pods[pc.Pod.Name] = pc
	for _, k := range pc.rules {
		r.match.add(k, pc.Pod.Name)
	}
	r.hostSrc.update(pc, 1)
}

func (r *Registry) deletePodLocked(name string) {
	if old, ok := r.pods[name]; ok {
		for _, k := range old.rules {
			r.match.remove(k)
		}
		r.hostSrc.update(old, -1)
	}
	for mac := range r.podHosts[name] {
		delete(r.hosts, mac)
	}
	delete(r.podHosts, name)
	delete(r.reserved, name)
	delete(r.pods, name)
	delete(r.discovered, name)
	delete(r.states, name)
}

// podsUsingRule returns the pod that owns an identical rule, if any.
func (r *Registry) ruleOwner(k ruleKey) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.match.rules[k]
	return p, ok
}

func (r *Registry) putProfileLocked(p Profile) {
	r.profiles[p.Name] = p
	for name, pc := range r.pods {
		if pc.Pod.Profile == p.Name {
			npc := *pc
			npc.Profile = p
			r.pods[name] = &npc
		}
	}
}

func (r *Registry) putHostLocked(h *Host) {
	if old, ok := r.hosts[h.MAC]; ok {
		if old.rev > h.rev {
			return // a later commit already put a newer copy
		}
		r.unlinkLocked(old)
	}
	hc := *h
	r.hosts[h.MAC] = &hc
	set, ok := r.podHosts[h.Pod]
	if !ok {
		set = map[string]*Host{}
		r.podHosts[h.Pod] = set
	}
	set[h.MAC] = &hc
	r.countLocked(h.Pod, h.State, 1)
	if h.Discovered {
		r.discovered[h.Pod]++
	}
	if h.ProvisioningIP != "" {
		if a, err := netip.ParseAddr(h.ProvisioningIP); err == nil {
			res, ok := r.reserved[h.Pod]
			if !ok {
				res = map[netip.Addr]string{}
				r.reserved[h.Pod] = res
			}
			res[a] = h.MAC
		}
	}
}

// unlinkLocked removes a host from the per-pod indexes.
func (r *Registry) unlinkLocked(old *Host) {
	delete(r.podHosts[old.Pod], old.MAC)
	r.countLocked(old.Pod, old.State, -1)
	if old.Discovered {
		r.discovered[old.Pod]--
	}
	if old.ProvisioningIP != "" {
		if a, err := netip.ParseAddr(old.ProvisioningIP); err == nil && r.reserved[old.Pod][a] == old.MAC {
			delete(r.reserved[old.Pod], a)
		}
	}
}

// ReservedBy returns the MAC holding a reservation of addr in pod.
func (r *Registry) ReservedBy(pod string, addr netip.Addr) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	mac, ok := r.reserved[pod][addr]
	return mac, ok
}

func (r *Registry) deleteHostLocked(mac string) {
	if old, ok := r.hosts[mac]; ok {
		r.unlinkLocked(old)
	}
	delete(r.hosts, mac)
}

func (r *Registry) discoveredCount(pod string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.discovered[pod]
}

// hostWithProfile returns a host whose profile override is name.
func (r *Registry) hostWithProfile(name string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for mac, h := range r.hosts {
		if h.Profile == name {
			return mac, true
		}
	}
	return "", false
}
