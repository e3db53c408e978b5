package api

import (
	"net/netip"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Where a host's effective profile comes from (HostView.ProfileFrom).
const (
	ProfileFromHost = "host"
	ProfileFromPod  = "pod"
)

// HostView is a host as the API reads it: the stored record without its token hash,
// plus what the server derives and does not store in it: the profile the host boots
// with and where that comes from, and the address its dynamic DHCP lease holds.
type HostView struct {
	podmgr.Host
	EffectiveProfile string `json:"effectiveProfile,omitempty"`
	ProfileFrom      string `json:"profileFrom,omitempty"`
	LeasedIP         string `json:"leasedIP,omitempty"`
}

// LeaseLookup answers the address a host holds a live DHCP lease (or offer) for.
type LeaseLookup func(pod, mac string) (netip.Addr, bool)

// SetLeaseLookup lets host reads show leased addresses (the DHCP service's lease
// table); call it before serving. Without it host reads carry no leasedIP.
func (s *Server) SetLeaseLookup(f LeaseLookup) { s.leaseIP = f }

// hostView derives h's read view.
func (s *Server) hostView(h podmgr.Host) HostView {
	v := HostView{Host: publicHost(h)}
	switch {
	case h.Profile != "":
		v.EffectiveProfile, v.ProfileFrom = h.Profile, ProfileFromHost
	default:
		if pc, ok := s.mgr.Registry().Pod(h.Pod); ok && pc.Pod.Profile != "" {
			v.EffectiveProfile, v.ProfileFrom = pc.Pod.Profile, ProfileFromPod
		}
	}
	if s.leaseIP != nil {
		if a, ok := s.leaseIP(h.Pod, h.MAC); ok {
			v.LeasedIP = a.Unmap().String()
		}
	}
	return v
}
