package server

import (
	"context"

	"github.com/podboot/podboot/pkg/replica"
)

// openReplica joins the replicas sharing the etcd store (membership, pkg/replica) and
// mounts GET /api/v1/replicas. With bbolt there is one replica and nothing to join.
func (s *Server) openReplica(ctx context.Context) error {
	st, ok := s.store.(lockedStore)
	if !ok {
		return nil
	}
	m, err := replica.Join(ctx, st.Client(), st.Prefix(), s.cfg.Replica, s.log)
	if err != nil {
		return err
	}
	s.members = m
	s.onFailure("replica session", m.Leave)
	s.addService("replica membership", m.Run)
	s.api.Mount(replica.Routes(m, s.mgr.Registry())...)
	return nil
}
