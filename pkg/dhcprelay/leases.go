package dhcprelay

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// bindState is where an address binding is in its life.
type bindState uint8

const (
	stateOffered  bindState = iota + 1 // held for the client for OfferHold, in memory only
	stateBound                         // ACKed and durable in the store
	stateDeclined                      // reported in use by a client: quarantined
)

// binding ties an address of a pod to a MAC until it expires.
type binding struct {
	ip      netip.Addr
	mac     string
	expires time.Time
	state   bindState
	// durable is the expiry of the MAC's lease of ip that the store holds (loaded or
	// committed); zero when none. expires runs ahead of it while a commit is in flight.
	durable time.Time
}

func (b *binding) live(now time.Time) bool { return b != nil && now.Before(b.expires) }

// Errors of the lease table; the handler turns them into NAKs, silence and metrics.
var (
	errNoAddress = errors.New("no free address in the pod's dynamic range")
	errConflict  = errors.New("address is held by another client")
	errNotOurs   = errors.New("address is not in the client's pool or reservation")
)

// leaseTable holds every pod's bindings in memory. Each pod has its own lock, so pods
// never wait on each other; the owner index (MAC -> pod) finds the pod of a unicast renew.
//
// A pod's bindings belong to one incarnation of the pod, told by gen (the registry's
// view). A pod deleted and created again under its name is a new incarnation: the store
// dropped the old one's leases with it, and the table drops them on the next use of the
// name, so the new pod does not inherit them.
type leaseTable struct {
	mu    sync.Mutex
	gen   podGen
	pods  map[string]*podLeases
	owner map[string]string
}

// podGen says which incarnation of a pod exists now; ok is false when none does.
type podGen func(pod string) (gen time.Time, ok bool)

// registryGen is the incarnation of a pod as the registry holds it: its creation time,
// which updates keep and a re-creation replaces.
func registryGen(reg *podmgr.Registry) podGen {
	return func(pod string) (time.Time, bool) {
		pc, ok := reg.Pod(pod)
		if !ok {
			return time.Time{}, false
		}
		return pc.Pod.CreatedAt, true
	}
}

// podLeases are the bindings of one pod. Invariant: byIP[ip].mac == mac for at most one
// live binding per address, and byMAC[mac] is that MAC's one non-declined binding.
type podLeases struct {
	gen    time.Time // the pod's incarnation, fixed at creation
	mu     sync.Mutex
	byIP   map[netip.Addr]*binding
	byMAC  map[string]*binding
	cursor map[netip.Prefix]uint32
}

func newLeaseTable(gen podGen) *leaseTable {
	return &leaseTable{gen: gen, pods: map[string]*podLeases{}, owner: map[string]string{}}
}

func newPodLeases(gen time.Time) *podLeases {
	return &podLeases{gen: gen, byIP: map[netip.Addr]*binding{}, byMAC: map[string]*binding{}, cursor: map[netip.Prefix]uint32{}}
}

// pod is the bindings of the pod named name as it exists now. A pod that no longer
// exists gets an empty table that is not kept.
func (t *leaseTable) pod(name string) *podLeases {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pl, ok := t.currentLocked(name); ok {
		return pl
	}
	gen, exists := t.gen(name)
	pl := newPodLeases(gen)
	if exists {
		t.pods[name] = pl
	}
	return pl
}

// currentLocked is the kept table of the pod's current incarnation; a table of a deleted
// or replaced incarnation is dropped. The registry is read under t.mu, so that callers
// see its changes in order and a late reader cannot bring back an older incarnation.
func (t *leaseTable) currentLocked(name string) (*podLeases, bool) {
	pl, ok := t.pods[name]
	if !ok {
		return nil, false
	}
	if gen, exists := t.gen(name); exists && gen.Equal(pl.gen) {
		return pl, true
	}
	delete(t.pods, name)
	for mac := range pl.macs() {
		if t.owner[mac] == name {
			delete(t.owner, mac)
		}
	}
	return nil, false
}

// macs are the MACs with a binding in the pod.
func (pl *podLeases) macs() map[string]struct{} {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	out := make(map[string]struct{}, len(pl.byMAC)+len(pl.byIP))
	for mac := range pl.byMAC {
		out[mac] = struct{}{}
	}
	for _, b := range pl.byIP {
		out[b.mac] = struct{}{}
	}
	return out
}

func (t *leaseTable) setOwner(mac, pod string) {
	t.mu.Lock()
	t.owner[mac] = pod
	t.mu.Unlock()
}

// ownerOf is the pod where mac last held an address.
func (t *leaseTable) ownerOf(mac string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.owner[mac]
	return p, ok
}

// load puts stored leases back: live and quarantined ones; a MAC keeps its latest.
// Leases of a pod that does not exist are skipped.
func (t *leaseTable) load(leases []podmgr.Lease, now time.Time) int {
	n := 0
	for _, l := range leases {
		ip, err := netip.ParseAddr(l.IP)
		if err != nil || !now.Before(l.Expires) {
			continue
		}
		if _, ok := t.gen(l.Pod); !ok {
			continue
		}
		pl := t.pod(l.Pod)
		b := &binding{ip: ip, mac: l.MAC, expires: l.Expires, state: stateBound, durable: l.Expires}
		if l.Declined {
			b.state = stateDeclined
			pl.byIP[ip] = b
			n++
			continue
		}
		if old, ok := pl.byMAC[l.MAC]; ok {
			if old.expires.After(b.expires) {
				continue
			}
			delete(pl.byIP, old.ip)
		}
		pl.byIP[ip] = b
		pl.byMAC[l.MAC] = b
		t.setOwner(l.MAC, l.Pod)
		n++
	}
	return n
}

// reload replaces pod's bindings with leases (that pod's stored leases): a replica
// taking the pod over starts from what the previous owner committed.
func (t *leaseTable) reload(pod string, leases []podmgr.Lease, now time.Time) int {
	t.mu.Lock()
	if old, ok := t.pods[pod]; ok {
		delete(t.pods, pod)
		for mac := range old.macs() {
			if t.owner[mac] == pod {
				delete(t.owner, mac)
			}
		}
	}
	t.mu.Unlock()
	return t.load(leases, now)
}

// kept is the table of pod if it is kept for the incarnation gen.
func (t *leaseTable) kept(pod string, gen time.Time) (*podLeases, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pl, ok := t.currentLocked(pod)
	return pl, ok && pl.gen.Equal(gen)
}

// lookup is mac's live address in pod, without creating the pod's table.
func (t *leaseTable) lookup(pod, mac string, now time.Time) (netip.Addr, bool) {
	t.mu.Lock()
	pl, ok := t.currentLocked(pod)
	t.mu.Unlock()
	if !ok {
		return netip.Addr{}, false
	}
	return pl.current(mac, now)
}

// want says which address a client may have.
type want struct {
	// reserved is the host's reservation; when valid, nothing else is offered.
	reserved netip.Addr
	// subnet is the dynamic pool (unused with a reservation).
	subnet podmgr.SubnetInfo
	// hint is the address the client asks for (option 50 or ciaddr).
	hint netip.Addr
	// isReserved says whether an address is reserved for some host of the pod.
	isReserved func(netip.Addr) (string, bool)
	// relay is the relay's (or the local interface's) address on the link: never a
	// client's, whatever the pool or a reservation says.
	relay netip.Addr
}

// offer picks an address for mac and holds it for hold.
func (pl *podLeases) offer(mac string, w want, now time.Time, hold time.Duration) (netip.Addr, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	ip, err := pl.pick(mac, w, now)
	if err != nil {
		return netip.Addr{}, err
	}
	pl.bind(mac, ip, now.Add(hold), stateOffered, now)
	return ip, nil
}

// pick chooses an address for mac without changing anything. Caller holds pl.mu.
func (pl *podLeases) pick(mac string, w want, now time.Time) (netip.Addr, error) {
	if w.reserved.IsValid() {
		if !pl.freeFor(w.reserved, mac, now) {
			return netip.Addr{}, errConflict
		}
		return w.reserved, nil
	}
	if !w.subnet.RangeFirst.IsValid() {
		return netip.Addr{}, errNoAddress
	}
	if b := pl.byMAC[mac]; b != nil && pl.dynamicOK(b.ip, mac, w, now) {
		return b.ip, nil
	}
	if w.hint.IsValid() && pl.dynamicOK(w.hint, mac, w, now) {
		return w.hint, nil
	}
	first, last := u32(w.subnet.RangeFirst), u32(w.subnet.RangeLast)
	size := last - first + 1
	start := pl.cursor[w.subnet.Prefix]
	for i := uint32(0); i < size; i++ {
		off := (start + i) % size
		ip := fromU32(first + off)
		if pl.dynamicOK(ip, mac, w, now) {
			pl.cursor[w.subnet.Prefix] = (off + 1) % size
			return ip, nil
		}
	}
	return netip.Addr{}, errNoAddress
}

// dynamicOK: ip is in the dynamic range, usable as a host address, reserved for nobody
// else and free for mac.
func (pl *podLeases) dynamicOK(ip netip.Addr, mac string, w want, now time.Time) bool {
	s := w.subnet
	if !s.RangeFirst.IsValid() || ip.Less(s.RangeFirst) || s.RangeLast.Less(ip) || !s.Prefix.Contains(ip) {
		return false
	}
	if !hostAddrOK(ip, s, w.relay) {
		return false
	}
	if w.isReserved != nil {
		if owner, ok := w.isReserved(ip); ok && owner != mac {
			return false
		}
	}
	return pl.freeFor(ip, mac, now)
}

// hostAddrOK: ip may be a client's address in s: not the subnet's network or broadcast
// address, its gateway, or the relay's address on the link.
func hostAddrOK(ip netip.Addr, s podmgr.SubnetInfo, relay netip.Addr) bool {
	if ip == s.Router || ip == relay || ip == broadcastOf(s.Prefix) {
		return false
	}
	// A /31 has no network address (RFC 3021): both are hosts.
	return s.Prefix.Bits() >= 31 || ip != s.Prefix.Masked().Addr()
}

// freeFor: no live binding of ip belongs to another MAC, and ip is not quarantined.
func (pl *podLeases) freeFor(ip netip.Addr, mac string, now time.Time) bool {
	b := pl.byIP[ip]
	if !b.live(now) {
		return true
	}
	return b.mac == mac && b.state != stateDeclined
}

// bind records mac at ip, dropping any other binding mac had. Caller holds pl.mu.
func (pl *podLeases) bind(mac string, ip netip.Addr, expires time.Time, st bindState, now time.Time) *binding {
	if old := pl.byMAC[mac]; old != nil && old.ip != ip {
		if pl.byIP[old.ip] == old {
			delete(pl.byIP, old.ip)
		}
	}
	b := pl.byIP[ip]
	if b == nil || b.mac != mac || b.state == stateDeclined {
		b = &binding{ip: ip, mac: mac}
		pl.byIP[ip] = b
	}
	// An offer never shortens a bound lease.
	if st == stateOffered && b.state == stateBound && b.live(now) {
		st = stateBound
		if expires.Before(b.expires) {
			expires = b.expires
		}
	}
	b.expires, b.state = expires, st
	pl.byMAC[mac] = b
	return b
}

// prior is what commit changed of mac's binding of ip, so that a failed store write can
// put it back (undo) and, while it is durable, still be answered (committer.degrade).
type prior struct {
	ip      netip.Addr
	set     time.Time // the expiry commit set
	expires time.Time // the binding's expiry before; zero when mac had no binding of ip
	state   bindState
	// durable is the store's expiry of mac's bound lease of ip; zero when none.
	durable time.Time
	// from is mac's binding of another address that commit dropped (a move); nil if none.
	from *binding
}

// commit binds ip to mac for d (REQUEST, renew, rebind); the caller persists the lease
// before the ACK leaves.
func (pl *podLeases) commit(mac string, ip netip.Addr, w want, now time.Time, d time.Duration) (prior, error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if w.reserved.IsValid() {
		if ip != w.reserved {
			return prior{}, errNotOurs
		}
		if !pl.freeFor(ip, mac, now) {
			return prior{}, errConflict
		}
	} else if !pl.dynamicOK(ip, mac, w, now) {
		if b := pl.byIP[ip]; b.live(now) && b.mac != mac {
			return prior{}, errConflict
		}
		return prior{}, errNotOurs
	}
	p := prior{ip: ip}
	if old := pl.byMAC[mac]; old != nil && old.ip != ip && pl.byIP[old.ip] == old {
		p.from = old
	}
	if b := pl.byIP[ip]; b.live(now) && b.mac == mac && b.state != stateDeclined {
		p.expires, p.state = b.expires, b.state
		if b.state == stateBound {
			p.durable = b.durable
		}
	}
	p.set = pl.bind(mac, ip, now.Add(d), stateBound, now).expires
	return p, nil
}

// committed records that the store now holds mac's lease of ip until expires.
func (pl *podLeases) committed(mac string, ip netip.Addr, expires time.Time) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if b := pl.byIP[ip]; b != nil && b.mac == mac && b.state == stateBound && b.durable.Before(expires) {
		b.durable = expires
	}
}

// undo takes back a commit whose store write failed, unless the binding changed since:
// the binding goes back to its durable expiry, or else to what it was before (an offer),
// or else away. The table never promises more than the store holds.
func (pl *podLeases) undo(mac string, p prior) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	ip := p.ip
	b := pl.byIP[ip]
	if b == nil || b.mac != mac || b.state != stateBound || !b.expires.Equal(p.set) {
		return
	}
	switch {
	case p.state == stateOffered && !b.durable.After(p.expires):
		b.expires, b.state = p.expires, stateOffered
	case !b.durable.IsZero():
		b.expires = b.durable
	case p.state != 0:
		b.expires, b.state = p.expires, p.state
	default:
		delete(pl.byIP, ip)
		if pl.byMAC[mac] == b {
			delete(pl.byMAC, mac)
		}
	}
	// A failed move leaves mac where it was, if its old address is still free.
	if old := p.from; old != nil && pl.byMAC[mac] == nil && pl.byIP[old.ip] == nil {
		pl.byIP[old.ip], pl.byMAC[mac] = old, old
	}
}

// current is mac's binding (any state but declined), if live.
func (pl *podLeases) current(mac string, now time.Time) (netip.Addr, bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b := pl.byMAC[mac]
	if !b.live(now) {
		return netip.Addr{}, false
	}
	return b.ip, true
}

// bound is mac's bound (ACKed) address, if live: the lease a unicast packet may name.
func (pl *podLeases) bound(mac string, now time.Time) (netip.Addr, bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b := pl.byMAC[mac]
	if !b.live(now) || b.state != stateBound {
		return netip.Addr{}, false
	}
	return b.ip, true
}

// holds reports whether a live binding of ip belongs to mac.
func (pl *podLeases) holds(mac string, ip netip.Addr, now time.Time) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b := pl.byIP[ip]
	return b.live(now) && b.mac == mac && b.state != stateDeclined
}

// cancelOffer drops an offer mac did not take (it chose another server).
func (pl *podLeases) cancelOffer(mac string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if b := pl.byMAC[mac]; b != nil && b.state == stateOffered {
		delete(pl.byMAC, mac)
		if pl.byIP[b.ip] == b {
			delete(pl.byIP, b.ip)
		}
	}
}

// release ends mac's binding of ip; false when mac did not hold it.
func (pl *podLeases) release(mac string, ip netip.Addr, now time.Time) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b := pl.byIP[ip]
	if !b.live(now) || b.mac != mac || b.state == stateDeclined {
		return false
	}
	delete(pl.byIP, ip)
	if pl.byMAC[mac] == b {
		delete(pl.byMAC, mac)
	}
	return true
}

// decline quarantines ip until now+q; false when mac did not hold it.
func (pl *podLeases) decline(mac string, ip netip.Addr, now time.Time, q time.Duration) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	b := pl.byIP[ip]
	if !b.live(now) || b.mac != mac || b.state == stateDeclined {
		return false
	}
	if pl.byMAC[mac] == b {
		delete(pl.byMAC, mac)
	}
	pl.byIP[ip] = &binding{ip: ip, mac: mac, expires: now.Add(q), state: stateDeclined}
	return true
}

// holders returns, for tests and checks, the MAC of every live binding by address.
func (pl *podLeases) holders(now time.Time) map[netip.Addr]string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	out := make(map[netip.Addr]string, len(pl.byIP))
	for ip, b := range pl.byIP {
		if b.live(now) && b.state != stateDeclined {
			out[ip] = b.mac
		}
	}
	return out
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func broadcastOf(p netip.Prefix) netip.Addr {
	if p.Bits() >= 31 {
		return netip.Addr{}
	}
	return fromU32(u32(p.Masked().Addr()) | (1<<(32-p.Bits()) - 1))
}

func maskOf(p netip.Prefix) [4]byte {
	m := ^uint32(0) << (32 - p.Bits())
	if p.Bits() == 0 {
		m = 0
	}
	return [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
}
