package podmgr

import "net/netip"

// hostSourceIndex tells, for the UDP source of a relayed DHCP packet, whether it is a host
// address: inside some pod's provisioning subnet and named by no pod as a relay's (a
// subnet's gateway, a rule's giaddr or relaySource). A real relay sends from its own
// interface address; a packet with giaddr set from a host's address was forged by a
// host. It is kept current by putPod and deletePod, counting each contribution, since
// pods may share CIDRs and gateways; a lookup costs one map probe per prefix length in
// use, whatever the number of pods.
type hostSourceIndex struct {
	// subnets counts the pods' subnets by prefix (v4 bits << 8 | length).
	subnets map[uint64]int32
	// lengths counts subnets per prefix length; inUse lists the lengths with a count,
	// longest first.
	lengths [33]int32
	inUse   []uint8
	// relays counts the addresses pods name as a relay's, by v4 bits.
	relays map[uint32]int32
}

func newHostSourceIndex() *hostSourceIndex {
	return &hostSourceIndex{subnets: map[uint64]int32{}, relays: map[uint32]int32{}}
}

func v4bits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func prefixKey(bits uint32, length uint8) uint64 {
	return uint64(bits&mask4(length))<<8 | uint64(length)
}

func mask4(length uint8) uint32 {
	if length == 0 {
		return 0
	}
	return ^uint32(0) << (32 - length)
}

// update adds (delta 1) or removes (delta -1) what pc contributes.
func (ix *hostSourceIndex) update(pc *PodContext, delta int32) {
	for _, s := range pc.Subnets {
		if !s.Prefix.Addr().Is4() {
			continue
		}
		l := uint8(s.Prefix.Bits())
		count(ix.subnets, prefixKey(v4bits(s.Prefix.Addr()), l), delta)
		ix.lengths[l] += delta
		if s.Router.Is4() {
			count(ix.relays, v4bits(s.Router), delta)
		}
	}
	for _, k := range pc.rules {
		for _, a := range []netip.Addr{k.giaddr, k.relaySource} {
			if a.Is4() {
				count(ix.relays, v4bits(a), delta)
			}
		}
	}
	ix.inUse = ix.inUse[:0]
	for l := 32; l >= 0; l-- {
		if ix.lengths[l] > 0 {
			ix.inUse = append(ix.inUse, uint8(l))
		}
	}
}

func count[K comparable](m map[K]int32, k K, delta int32) {
	if m[k] += delta; m[k] <= 0 {
		delete(m, k)
	}
}

// lookup returns the provisioning subnet a host address src lies in.
func (ix *hostSourceIndex) lookup(src netip.Addr) (netip.Prefix, bool) {
	if !src.Is4() {
		return netip.Prefix{}, false
	}
	b := v4bits(src)
	if ix.relays[b] > 0 {
		return netip.Prefix{}, false
	}
	for _, l := range ix.inUse {
		if ix.subnets[prefixKey(b, l)] > 0 {
			return netip.PrefixFrom(src, int(l)).Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// HostSource reports whether a relayed packet's UDP source src is a host's address: it
// lies in a pod's provisioning subnet (returned) and is not an address any pod names as
// a relay's (a subnet's gateway, a match rule's giaddr or relaySource). Real relays send
// from their own addresses, so such a packet was written by a host.
func (r *Registry) HostSource(src netip.Addr) (netip.Prefix, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.hostSrc.lookup(src.Unmap())
}
