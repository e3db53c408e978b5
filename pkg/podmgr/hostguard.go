package podmgr

import "errors"

// ErrNotOwner says a host write was refused because this replica does not own the host's
// pod (docs/ha.md "Fencing"): nothing was written; the pod's owner makes the write.
// Callers answer it 503 so that a host's agent moves on to the next replica.
var ErrNotOwner = errors.New("not the owner of the pod")

// HostGuard runs inside a host write's transaction, after the write; an error aborts the
// transaction. The boot path and the agent API pass the ownership fence as one.
type HostGuard = func(tx Tx, h Host) error
