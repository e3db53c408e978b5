package podmgr

import (
	"fmt"
	"strings"
)

// podIdentities tracks, while a batch of hosts is added, which host of a pod holds each
// hostname (compared case-insensitively, as DNS does) and each management address: two
// hosts with one name or one management address would collide on the management network.
type podIdentities struct {
	reg   *Registry
	byPod map[string]*identities
}

type identities struct {
	hostname, mgmtIP map[string]string // value: the owner's MAC
}

func newPodIdentities(reg *Registry) *podIdentities {
	return &podIdentities{reg: reg, byPod: map[string]*identities{}}
}

// claim records h's hostname and management address, or says who already has them.
func (p *podIdentities) claim(h Host) error {
	ids, ok := p.byPod[h.Pod]
	if !ok {
		ids = &identities{hostname: map[string]string{}, mgmtIP: map[string]string{}}
		for _, o := range p.reg.HostsOfPod(h.Pod) {
			if o.Hostname != "" {
				ids.hostname[strings.ToLower(o.Hostname)] = o.MAC
			}
			if o.ManagementIP != "" {
				ids.mgmtIP[o.ManagementIP] = o.MAC
			}
		}
		p.byPod[h.Pod] = ids
	}
	name := strings.ToLower(h.Hostname)
	if owner, dup := ids.hostname[name]; dup && name != "" {
		return fmt.Errorf("%w: host %s: hostname %s in pod %s is already host %s's", ErrConflict, h.MAC, h.Hostname, h.Pod, owner)
	}
	if owner, dup := ids.mgmtIP[h.ManagementIP]; dup && h.ManagementIP != "" {
		return fmt.Errorf("%w: host %s: managementIp %s in pod %s is already host %s's", ErrConflict, h.MAC, h.ManagementIP, h.Pod, owner)
	}
	if name != "" {
		ids.hostname[name] = h.MAC
	}
	if h.ManagementIP != "" {
		ids.mgmtIP[h.ManagementIP] = h.MAC
	}
	return nil
}
