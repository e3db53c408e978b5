package pxe

import "github.com/podboot/podboot/pkg/podmgr"

// AgentURLs are the HTTPS URLs a host's stage1 reaches podboot at, as its iPXE script
// gives them: self is this replica's (https://server:PORT, or the advertised one with
// replicas), all every replica's (nil without replicas).
func (s *Service) AgentURLs(server string) (self string, all []string) {
	self = podmgr.HTTPSURL(server, s.httpsPort, "")
	if s.cfg.Replicas == nil {
		return self, nil
	}
	adv, all := s.cfg.Replicas()
	if adv != "" {
		self = adv
	}
	return self, all
}
