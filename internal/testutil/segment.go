package testutil

import (
	"fmt"
	"strings"
)

// Segment is a network of the central node itself, without a relay: a bridge in the
// central namespace that local hosts plug into, for podboot's local interface service.
type Segment struct {
	tp      *Topology
	central *NS
	Bridge  string // the bridge's name in central: the interface podboot serves
	Addr    string // the bridge's address, without prefix length
}

// LocalSegment creates a bridge named bridge in central carrying addr (CIDR form).
func (tp *Topology) LocalSegment(central *NS, bridge, addr string) *Segment {
	tp.t.Helper()
	central.Run("ip", "link", "add", bridge, "type", "bridge")
	central.Run("ip", "addr", "add", addr, "dev", bridge)
	central.Run("ip", "link", "set", bridge, "up")
	return &Segment{tp: tp, central: central, Bridge: bridge, Addr: strings.Split(addr, "/")[0]}
}

// Host creates a host on the segment: a namespace whose eth0 (with the given MAC) is
// plugged into the segment's bridge, up and without an address.
func (s *Segment) Host(name, mac string) *NS {
	tp := s.tp
	tp.t.Helper()
	ns := tp.Namespace("host-" + name)
	port := fmt.Sprintf("l%d", tp.next())
	s.central.Run("ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
	s.central.Run("ip", "link", "set", port, "master", s.Bridge, "up")
	ns.Run("ip", "link", "set", "eth0", "address", mac)
	ns.Run("ip", "link", "set", "eth0", "up")
	return ns
}
