package podmgr

import "context"

// RecordOwnership puts a pod's move between replicas (pkg/replica) in the audit log:
// action is "replica.claimed", "replica.released" or "replica.lost".
func (m *Manager) RecordOwnership(ctx context.Context, replica, action, pod, detail string) error {
	return m.store.Batch(ctx, func(tx Tx) error {
		return m.audit(tx, Actor{Name: "replica/" + replica}, action, pod, "", detail)
	})
}

// WaitRevision waits (at most feedWait) until the registry shows store revision rev, and
// reports whether it does: a replica taking a pod over first catches up to its claim.
func (m *Manager) WaitRevision(ctx context.Context, rev uint64) bool {
	m.feed.wait(ctx, rev)
	return m.Revision() >= rev
}
