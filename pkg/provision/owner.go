package provision

import (
	"fmt"
	"net/http"

	"github.com/podboot/podboot/pkg/podmgr"
)

// With replicas on etcd (docs/ha.md "Fencing") only the owner of a host's pod writes for
// the host: its token, its agent's events, installed, failed, inventory. A non-owner
// answers the agent 503 with Retry-After, which makes the agent move on to the next
// replica until it reaches the owner; every write also reads the owner key in its etcd
// transaction, so a write racing an ownership move commits nothing and is a 503 too.
// Blob downloads (stage2, its signature, the bash package) are reads: any replica
// serves them.

// Owner is this replica's pod ownership (replica.Ownership).
type Owner interface {
	// Name is this replica's name.
	Name() string
	// Owns reports whether this replica answers for pod now.
	Owns(pod string) bool
	// OwnerOf names pod's owner as last seen, for the refusal ("" when none).
	OwnerOf(pod string) string
	// Fence reports, inside a store transaction, whether this replica owns pod; the
	// transaction then commits only while that holds.
	Fence(tx podmgr.ReadTx, pod string) (bool, error)
}

// SetOwner makes the service write only for the pods o owns. Without an owner (bbolt,
// one replica) it writes for every pod. Call it before serving.
func (s *Service) SetOwner(o Owner) { s.owner = o }

// notOwner is the refusal for pod, or nil when this replica may write for it.
func (s *Service) notOwner(pod string) error {
	if s.owner == nil || s.owner.Owns(pod) {
		return nil
	}
	return s.refusal(pod)
}

func (s *Service) refusal(pod string) error {
	owner := s.owner.OwnerOf(pod)
	if owner == "" || owner == s.owner.Name() {
		owner = "not settled yet"
	}
	return fmt.Errorf("%w: replica %s does not own pod %s; owner is %s", podmgr.ErrNotOwner, s.owner.Name(), pod, owner)
}

// guards are the checks a host write makes in its transaction: the ownership fence.
func (s *Service) guards() []podmgr.HostGuard {
	if s.owner == nil {
		return nil
	}
	return []podmgr.HostGuard{func(tx podmgr.Tx, h podmgr.Host) error {
		ok, err := s.owner.Fence(tx, h.Pod)
		if err != nil {
			return fmt.Errorf("check ownership of pod %s: %w", h.Pod, err)
		}
		if !ok {
			return s.refusal(h.Pod)
		}
		return nil
	}}
}

// Guards says whether this replica may write pod's host events now and returns the
// fence their transactions must check: the boot service's download events use it.
func (s *Service) Guards(pod string) ([]podmgr.HostGuard, error) {
	if err := s.notOwner(pod); err != nil {
		return nil, err
	}
	return s.guards(), nil
}

// RetryAfterNotOwner is the Retry-After of a refusal by a non-owner, in seconds: the
// agent tries the other replicas first; ownership settles within a failover.
const RetryAfterNotOwner = "1"

// writeNotOwner answers a refusal: 503, Retry-After, the reason as body.
func writeNotOwner(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", RetryAfterNotOwner)
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
}
