package server

import "github.com/podboot/podboot/pkg/fleet"

// openFleet mounts the fleet view (pod status, host timeline, pod check) on the API.
// It runs after openDHCP, whose relay log it reads.
func (s *Server) openFleet() error {
	svc := fleet.NewService(s.mgr, s.relays)
	s.api.Mount(svc.Routes(s.log)...)
	return nil
}
