package server

import (
	"context"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// eventRetainer is a store that bounds its host events itself: a per-host ring on
// append and a global retention pruned in the background (bbolt and etcd alike).
type eventRetainer interface {
	SetEventLimits(l podmgr.EventLimits)
	PruneHostEvents(l podmgr.EventLimits, now time.Time) (int, error)
}

// retainEvents enforces the global host-event retention (config events:) in the
// background, every events.pruneEvery, so that appends on the boot path stay one write.
func (s *Server) retainEvents(ctx context.Context) error {
	l := s.cfg.Events
	st, ok := s.store.(eventRetainer)
	if !ok {
		s.log.Warn("host-event retention is not enforced on this store", "store", s.cfg.Store.Kind)
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(l.PruneEvery)
	defer t.Stop()
	for {
		if n, err := st.PruneHostEvents(l, time.Now()); err != nil {
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
