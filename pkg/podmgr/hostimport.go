package podmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// HostChunker is a store whose transactions carry a bounded number of host writes (etcd:
// 128 operations per transaction). AddHosts splits a bigger registration into parts of
// HostsPerTxn hosts and keeps it all-or-nothing for the caller (importHosts); withBMCs:
// each row also stores a BMC record.
type HostChunker interface {
	HostsPerTxn(withBMCs bool) int
}

// ImportJournal is a chunking store that records an import while it runs (etcd), so an
// import whose serve died between parts is rolled back by a replica (the next start or
// any other): the journal's record is bound to this process's liveness, and every part
// is recorded in its own transaction (ImportPartTx).
type ImportJournal interface {
	// BeginImport records import id of hosts in parts before its first part.
	BeginImport(ctx context.Context, id, actor string, hosts, parts int) error
	// EndImport removes the record once the import is whole or wholly undone. An
	// ErrConflict says the import was abandoned meanwhile and is rolled back.
	EndImport(ctx context.Context, id string) error
	// AbandonImport lets the record go: replicas roll the import back.
	AbandonImport(id string)
}

// ImportPartTx is the transaction of an ImportJournal: it records the hosts a part
// registers (macs, created at created) and the discovered hosts it accepts (what
// UndoAccept needs), and fails once the import was abandoned.
type ImportPartTx interface {
	RecordImportPart(id string, macs []string, created time.Time, accepted []ImportedAccept) error
}

// importHosts writes rows (hosts to register, discovered hosts to accept), already
// validated against the registry, in parts of per rows, one transaction each. It is
// all-or-nothing for the caller: a part that fails undoes the parts written before it
// (removes their new hosts, puts their accepted hosts back to discovered), and the
// error says so. A part whose commit outcome is unknown (etcd lost a member or its
// leader mid-commit) is looked up and either counted as written or written again. Between the first and the last part other
// readers may see some of the hosts; every part's audit record names the import.
func (m *Manager) importHosts(ctx context.Context, a Actor, hs []importRow, per int) error {
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return fmt.Errorf("read random: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	parts := (len(hs) + per - 1) / per
	j, journaled := m.store.(ImportJournal)
	if journaled {
		if err := j.BeginImport(ctx, id, a.Name, len(hs), parts); err != nil {
			return fmt.Errorf("import of %d hosts: %w", len(hs), err)
		}
	}
	written := 0
	for p := 0; p < parts; p++ {
		part := hs[p*per : min((p+1)*per, len(hs))]
		detail := fmt.Sprintf("import %s part %d/%d: %d of %d hosts", id, p+1, parts, len(part), len(hs))
		if err := m.importPart(ctx, a, id, part, detail); err != nil {
			werr := fmt.Errorf("import %s of %d hosts: part %d/%d: %w", id, len(hs), p+1, parts, err)
			return m.undoImport(ctx, a, id, hs[:written], per, werr)
		}
		written += len(part)
	}
	if journaled {
		if err := m.endImport(ctx, j, id); err != nil {
			return fmt.Errorf("import %s of %d hosts: all parts written, but %w: nothing was imported", id, len(hs), err)
		}
	}
	m.log.Info("hosts imported", "count", len(hs), "parts", parts, "import", id, "actor", a.Name)
	return nil
}

// undoImport removes the hosts an import wrote before its part failed with werr, and
// says what became of them.
func (m *Manager) undoImport(ctx context.Context, a Actor, id string, written []importRow, per int, werr error) error {
	j, journaled := m.store.(ImportJournal)
	if len(written) > 0 {
		if rerr := m.removeImported(ctx, a, id, written, per); rerr != nil {
			if journaled {
				j.AbandonImport(id)
				return fmt.Errorf("%w; removing the %d hosts already written also failed (%v): they are removed once the store is reachable (audit event host.import.rollback)", werr, len(written), rerr)
			}
			return fmt.Errorf("%w; removing the %d hosts already written also failed, some remain (audit records of import %s name them): %v", werr, len(written), id, rerr)
		}
	}
	if journaled {
		if err := m.endImport(ctx, j, id); err != nil {
			m.log.Warn("close import record", "import", id, "error", err)
		}
	}
	if len(written) == 0 {
		return fmt.Errorf("%w; nothing was imported", werr)
	}
	return fmt.Errorf("%w; the %d hosts already written were undone again: nothing was imported", werr, len(written))
}

// endImport closes an import's record, retrying while the store is unavailable; one
// that cannot be closed is abandoned, so that replicas roll it back.
func (m *Manager) endImport(ctx context.Context, j ImportJournal, id string) error {
	err := j.EndImport(ctx, id)
	if err != nil {
		j.AbandonImport(id)
		return fmt.Errorf("its record could not be closed, so it is rolled back (audit event host.import.rollback): %w", err)
	}
	return nil
}

// importAttempts bounds how often one part is tried while the store is unavailable.
const importAttempts = 5

// importPart writes one part, finding out what happened when the outcome is unknown.
func (m *Manager) importPart(ctx context.Context, a Actor, id string, part []importRow, detail string) error {
	var err error
	for attempt := 1; attempt <= importAttempts; attempt++ {
		err = m.update(ctx, func(tx Tx) error { return m.writeRows(tx, a, id, part, detail) })
		if err == nil || !errors.Is(err, ErrStoreUnavailable) {
			return err
		}
		switch n, lerr := m.countWritten(ctx, part); {
		case lerr == nil && n == len(part):
			return nil // the commit went through
		case lerr == nil && n > 0:
			return fmt.Errorf("%w: %d of %d hosts of the part are stored by someone else meanwhile", ErrConflict, n, len(part))
		}
		if pause(ctx, attempt) != nil {
			return err
		}
	}
	return err
}

// pause waits a little longer after each failed attempt, or until ctx ends.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt) * 500 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// countWritten counts the hosts of part that the store holds as this import wrote them
// (same pod; same creation time, or accepted at the import's time).
func (m *Manager) countWritten(ctx context.Context, part []importRow) (int, error) {
	n := 0
	err := m.store.View(ctx, func(tx ReadTx) error {
		n = 0
		for _, r := range part {
			h := r.Host
			got, ok, err := tx.Host(h.MAC)
			if err != nil {
				return err
			}
			mine := got.CreatedAt.Equal(h.CreatedAt)
			if r.Prior != nil {
				mine = !got.Discovered && got.UpdatedAt.Equal(h.UpdatedAt)
			}
			if ok && got.Pod == h.Pod && mine {
				n++
			}
		}
		return nil
	})
	return n, err
}

// removeImported undoes the rows an import wrote, in parts: it deletes the hosts it
// registered and puts the hosts it accepted back to discovered.
func (m *Manager) removeImported(ctx context.Context, a Actor, id string, hs []importRow, per int) error {
	for i := 0; i < len(hs); i += per {
		part := hs[i:min(i+per, len(hs))]
		var err error
		for attempt := 1; attempt <= importAttempts; attempt++ {
			err = m.update(ctx, func(tx Tx) error {
				for _, r := range part {
					if r.Prior != nil {
						if _, err := UndoAccept(tx, ImportedAccept{Prior: *r.Prior, SetBMC: r.BMC != nil, PriorBMC: r.PriorBMC}, m.now().UTC()); err != nil {
							return err
						}
						continue
					}
					h := r.Host
					if got, ok, err := tx.Host(h.MAC); err != nil {
						return err
					} else if !ok || !got.CreatedAt.Equal(h.CreatedAt) {
						continue // not ours (any more)
					}
					if err := tx.DeleteHost(h.MAC); err != nil {
						return err
					}
				}
				return m.audit(tx, a, "host.delete", part[0].Host.Pod, "", fmt.Sprintf("import %s undone: %d hosts", id, len(part)))
			})
			if err == nil || !errors.Is(err, ErrStoreUnavailable) || pause(ctx, attempt) != nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
