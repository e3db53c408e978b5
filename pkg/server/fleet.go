package server

import (
	"context"

	"github.com/podboot/podboot/pkg/fleet"
)

// openFleet mounts the fleet view (pod status, host timeline, pod check) on the API and
// registers the stage-deadline check and the provision metrics to run. It runs after
// openDHCP, whose relay log it reads.
func (s *Server) openFleet() error {
	cfg := s.cfg.Fleet
	if err := cfg.Validate(); err != nil {
		return err
	}
	svc := fleet.NewService(s.mgr, s.relays)
	svc.SetRelaySilence(cfg.RelaySilence)
	m, err := fleet.NewMetrics(s.prom, cfg.MetricPods)
	if err != nil {
		return err
	}
	svc.SetMetrics(m)
	s.api.Mount(svc.Routes(s.log)...)
	s.addService("stage deadlines", func(ctx context.Context) error { return svc.RunDeadlines(ctx, cfg.DeadlineEvery, s.log) })
	s.addService("provision metrics", func(ctx context.Context) error { return m.Run(ctx, s.mgr) })
	return nil
}
