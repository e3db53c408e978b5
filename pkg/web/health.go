package web

import "github.com/podboot/podboot/pkg/podmgr"

// counts are a pod's hosts by state, grouped as the pages show them.
type counts struct {
	Total, Waiting, InProgress, Provisioned, Failed int
	ByState                                         map[podmgr.HostState]int
}

func countsOf(byState map[podmgr.HostState]int) counts {
	c := counts{ByState: byState}
	for s, n := range byState {
		c.Total += n
		switch s {
		case podmgr.StateRegistered, podmgr.StateDiscovered:
			c.Waiting += n
		case podmgr.StateOffered, podmgr.StateBooting, podmgr.StateVerified, podmgr.StateInstalling:
			c.InProgress += n
		case podmgr.StateProvisioned:
			c.Provisioned += n
		case podmgr.StateFailed:
			c.Failed += n
		}
	}
	return c
}

// Health is a pod's one-word summary: failing (some host failed), provisioning (some
// host is between DHCP offer and installed), waiting (some host has not booted yet), ok
// (every host provisioned), or empty.
func (c counts) Health() string {
	switch {
	case c.Failed > 0:
		return "failing"
	case c.InProgress > 0:
		return "provisioning"
	case c.Total == 0:
		return "empty"
	case c.Waiting > 0:
		return "waiting"
	}
	return "ok"
}

// states lists the host states in provisioning order, for columns and filters.
var states = []podmgr.HostState{podmgr.StateRegistered, podmgr.StateDiscovered, podmgr.StateOffered, podmgr.StateBooting,
	podmgr.StateVerified, podmgr.StateInstalling, podmgr.StateProvisioned, podmgr.StateFailed}
