package storm

import (
	"fmt"
	"net/netip"
	"strings"
)

// Addresses every storm uses (documentation ranges only).
const (
	// ServerAddr is podboot's address, on the central side of the WAN link.
	ServerAddr = "198.51.100.10"
	// FleetAddr is the fleet namespace's address on the WAN link.
	FleetAddr = "198.51.100.2"
	// Giaddr is every rack's gateway, the giaddr every relay writes.
	Giaddr = "192.0.2.1"
	// RackCIDR is every pod's provisioning subnet.
	RackCIDR = "192.0.2.0/24"
	// SiteCIDR holds the pods' public (NAT, relay source) addresses.
	SiteCIDR = "203.0.113.0/24"
	// MaxPods is how many site addresses SiteCIDR has for pods.
	MaxPods = 240
	// MaxHostsPerPod is the size of each pod's lease range.
	MaxHostsPerPod = 240
)

// Pod is one simulated site: its name, its public address (the relay's source and the
// NAT address of its hosts) and the option 82 circuit-id its relay adds.
type Pod struct {
	Name    string
	Source  netip.Addr
	Circuit string
}

// Host is one simulated machine.
type Host struct {
	MAC string
	Pod *Pod
}

// Fleet is hosts spread round-robin over pods.
type Fleet struct {
	Pods  []*Pod
	Hosts []Host
}

// NewFleet generates n hosts across p pods; the same arguments give the same fleet.
func NewFleet(n, p int) (*Fleet, error) {
	if p < 1 || p > MaxPods {
		return nil, fmt.Errorf("pods %d: want 1..%d", p, MaxPods)
	}
	if n < 1 || (n+p-1)/p > MaxHostsPerPod {
		return nil, fmt.Errorf("hosts %d across %d pods: want 1..%d per pod", n, p, MaxHostsPerPod)
	}
	f := &Fleet{}
	for i := range p {
		f.Pods = append(f.Pods, &Pod{
			Name:    fmt.Sprintf("storm-%03d", i),
			Source:  netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}),
			Circuit: fmt.Sprintf("rack-%03d", i),
		})
	}
	for i := range n {
		f.Hosts = append(f.Hosts, Host{
			MAC: fmt.Sprintf("02:5b:%02x:%02x:%02x:%02x", i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff),
			Pod: f.Pods[i%p],
		})
	}
	return f, nil
}

// PodsYAML is the pods as `podboot pod apply -f` documents, all with profile.
func (f *Fleet) PodsYAML(profile string) string {
	var b strings.Builder
	for _, p := range f.Pods {
		fmt.Fprintf(&b, `---
name: %s
nat: true
replyTo: relaySource
match:
  - giaddr: %s
    relaySource: %s
    circuitId: %s
subnets:
  - cidr: %s
    gateway: %s
    rangeStart: 192.0.2.10
    rangeEnd: 192.0.2.%d
serverAddress: %s
management:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
profile: %s
`, p.Name, Giaddr, p.Source, p.Circuit, RackCIDR, Giaddr, 10+MaxHostsPerPod-1, ServerAddr, profile)
	}
	return b.String()
}

// HostsCSV is the hosts as a `podboot host import -f` file.
func (f *Fleet) HostsCSV() string {
	var b strings.Builder
	b.WriteString("mac,pod,hostname\n")
	for i, h := range f.Hosts {
		fmt.Fprintf(&b, "%s,%s,node%05d\n", h.MAC, h.Pod.Name, i)
	}
	return b.String()
}
