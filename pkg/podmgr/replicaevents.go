package podmgr

import "context"

// RecordOwnership puts a pod's move between replicas (pkg/replica) in the audit log:
// action is "replica.claimed", "replica.released" or "replica.lost".
func (m *Manager) RecordOwnership(ctx context.Context, replica, action, pod, detail string) error {
	return m.store.Batch(ctx, func(tx Tx) error {
		return m.audit(tx, Actor{Name: "replica/" + replica}, action, pod, "", detail)
	})
}
