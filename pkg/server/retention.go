package server

import (
	"context"
	"time"
)

// retainEvents enforces the global host-event retention (config events:) in the
// background, every events.pruneEvery, so that appends on the boot path stay one write.
func (s *Server) retainEvents(ctx context.Context) error {
	l := s.cfg.Events
	t := time.NewTicker(l.PruneEvery)
	defer t.Stop()
	for {
		if n, err := s.store.PruneHostEvents(l, time.Now()); err != nil {
			s.log.Warn("event retention", "err", err)
		} else if n > 0 {
			s.log.Info("event retention dropped old host events", "count", n, "max", l.Max, "max_age", l.MaxAge)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
