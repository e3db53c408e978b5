package dhcprelay

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Owner says which pods this replica answers for when several replicas share one etcd
// store (pkg/replica, docs/ha.md). Without one (bbolt, one replica) every pod is ours.
type Owner interface {
	// Owns reports whether this replica answers for pod now; packets of other pods are
	// dropped silently (outcome not_owner), their owner answers them.
	Owns(pod string) bool
	// Fence reports, inside a lease commit's transaction, whether this replica still
	// owns pod; the commit then requires that to hold when it lands.
	Fence(tx podmgr.ReadTx, pod string) (bool, error)
}

// SetOwner makes the service answer only the pods o says are this replica's, and
// condition every lease write on owning its pod. Call it before Serve.
func (s *Server) SetOwner(o Owner) {
	s.h.owner = o
	s.owner = o
}

// SetServerID makes replies carry addr as server identifier, next-server and boot URL
// host instead of each pod's serverAddress: the replica's own address, so that clients
// and relays reach the replica that answered (replica.advertise.dhcp).
func (s *Server) SetServerID(addr netip.Addr) { s.h.serverID = addr }

// ReloadPod replaces pod's lease table with the pod's leases in the store: a replica
// that just became the pod's owner reads what the previous owner committed before it
// answers for the pod.
func (s *Server) ReloadPod(ctx context.Context, pod string) error {
	var leases []podmgr.Lease
	err := s.mgr.Store().View(ctx, func(tx podmgr.ReadTx) error {
		all, err := tx.Leases()
		for _, l := range all {
			if l.Pod == pod {
				leases = append(leases, l)
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dhcp: load leases of pod %s: %w", pod, err)
	}
	n := s.h.leases.reload(pod, leases, s.h.now())
	s.log.Info("pod leases loaded", "pod", pod, "live", n, "stored", len(leases))
	return nil
}

// fenced reports whether the commit may not write pod's leases: it has an owner and
// this replica is not it. fences caches the answer per pod within one transaction.
func fenced(tx podmgr.ReadTx, o Owner, pod string, fences map[string]bool) (bool, error) {
	if o == nil {
		return false, nil
	}
	if ok, seen := fences[pod]; seen {
		return !ok, nil
	}
	ok, err := o.Fence(tx, pod)
	if err != nil {
		return false, fmt.Errorf("check ownership of pod %s: %w", pod, err)
	}
	fences[pod] = ok
	return !ok, nil
}
