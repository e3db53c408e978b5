package server

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/replica"
)

// openReplica joins the replicas sharing the etcd store (membership, pkg/replica) and
// mounts GET /api/v1/replicas. With bbolt there is one replica and nothing to join.
func (s *Server) openReplica(ctx context.Context) error {
	st, ok := s.store.(lockedStore)
	if !ok {
		s.api.Mount(replica.SoloRoutes()...)
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

// shareDHCP makes the DHCP service answer only the pods this replica owns, fence its
// lease commits on that ownership, load a pod's leases when it takes the pod over, and
// hand out this replica's advertised address. Nothing to do without replicas.
func (s *Server) shareDHCP(srv *dhcprelay.Server) error {
	if s.members == nil {
		return nil
	}
	own, err := replica.NewOwnership(s.members, replica.Hooks{
		Pods: func() []replica.Pod {
			var out []replica.Pod
			for _, p := range s.mgr.Pods() {
				out = append(out, replica.Pod{Name: p.Name, Pin: p.Replica})
			}
			return out
		},
		Load: func(ctx context.Context, pod string, rev int64) error {
			if !s.mgr.WaitRevision(ctx, uint64(rev)) {
				return fmt.Errorf("registry at revision %d has not caught up with the claim of pod %s at %d", s.mgr.Revision(), pod, rev)
			}
			return srv.ReloadPod(ctx, pod)
		},
		Record: func(ctx context.Context, action, pod, detail string) error {
			return s.mgr.RecordOwnership(ctx, s.members.Name(), action, pod, detail)
		},
	}, s.prom, s.log)
	if err != nil {
		return err
	}
	srv.SetOwner(own)
	s.owner = own
	if a, err := netip.ParseAddr(s.members.Config().Advertise.DHCP); err == nil {
		srv.SetServerID(a)
	}
	s.addService("pod ownership", own.Run)
	return nil
}

// replicaURLs tells the boot service this replica's advertised HTTPS URL and every live
// replica's, for the iPXE script and the agent's failover; nil without replicas.
func (s *Server) replicaURLs() func() (string, []string) {
	if s.members == nil {
		return nil
	}
	m := s.members
	return func() (string, []string) {
		self := m.Config().Advertise.HTTPS
		all := []string{}
		if self != "" {
			all = append(all, self)
		}
		for _, mb := range m.Members() {
			if u := mb.Advertise.HTTPS; u != "" && u != self && !m.Suspect(mb.Name) {
				all = append(all, u)
			}
		}
		return self, all
	}
}

// advertisedNames are the hosts of this replica's advertised addresses: its HTTPS
// certificate must cover them, since hosts and agents reach it there.
func (s *Server) advertisedNames() []string {
	a := s.cfg.Replica.Advertise
	var out []string
	if a.DHCP != "" {
		out = append(out, a.DHCP)
	}
	for _, u := range []string{a.HTTPS, a.API} {
		if p, err := url.Parse(u); err == nil && p.Hostname() != "" && !slices.Contains(out, p.Hostname()) {
			out = append(out, p.Hostname())
		}
	}
	return out
}
