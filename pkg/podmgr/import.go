package podmgr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ImportRequest is one `host import`: hosts to register, discovered hosts to accept, and
// the BMC records of either (by MAC; passwords sealed by pkg/bmc). Import writes all of
// it or none.
type ImportRequest struct {
	Hosts   []Host
	Accepts []Accept
	BMCs    map[string]BMC
}

// Import registers req.Hosts, accepts req.Accepts and stores req.BMCs, all or none, and
// returns the hosts as stored (registered first, then accepted). Every row is checked
// against the registry first (one bad row refuses the whole import, naming it); a BMC
// that leaves driver, user or password empty needs its pod's defaults to set them. The
// writes are one transaction, or, on a store whose transactions are bounded (etcd),
// journaled parts that are undone together (importHosts): a new host is removed, an
// accepted host becomes discovered again.
func (m *Manager) Import(ctx context.Context, a Actor, req ImportRequest) ([]Host, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if len(req.Hosts)+len(req.Accepts) == 0 {
		return nil, fmt.Errorf("%w: no hosts given", ErrInvalid)
	}
	now := m.now().UTC()
	ids := newPodIdentities(m.reg)
	var rows []importRow
	if len(req.Hosts) > 0 {
		fresh, err := m.prepareNewHosts(req.Hosts, ids, now)
		if err != nil {
			return nil, fmt.Errorf("%w; nothing was imported", err)
		}
		rows = newHostRows(fresh)
	}
	for i, acc := range req.Accepts {
		r, err := m.prepareAccept(acc, ids, now)
		if err != nil {
			return nil, fmt.Errorf("serial row %d of %d (serial %s): %w; nothing was imported", i+1, len(req.Accepts), acc.Serial, err)
		}
		rows = append(rows, r)
	}
	if err := m.attachBMCs(ctx, rows, req.BMCs); err != nil {
		return nil, fmt.Errorf("%w; nothing was imported", err)
	}
	if err := m.writeImport(ctx, a, rows, len(req.BMCs) > 0); err != nil {
		return nil, err
	}
	out := make([]Host, len(rows))
	for i, r := range rows {
		out[i] = r.stored()
	}
	m.log.Info("hosts imported", "registered", len(req.Hosts), "accepted", len(req.Accepts), "bmcs", len(req.BMCs), "actor", a.Name)
	return out, nil
}

// prepareAccept checks an accept row against the registry as AcceptHost does.
func (m *Manager) prepareAccept(acc Accept, ids *podIdentities, now time.Time) (importRow, error) {
	mac, err := NormalizeMAC(acc.MAC)
	if err != nil {
		return importRow{}, err
	}
	cur, ok := m.reg.Host(mac)
	if !ok || !cur.Discovered {
		return importRow{}, fmt.Errorf("%w: host %s is no longer discovered (accepted or deleted meanwhile)", ErrConflict, mac)
	}
	pc, ok := m.reg.Pod(cur.Pod)
	if !ok {
		return importRow{}, fmt.Errorf("%w: pod %s", ErrNotFound, cur.Pod)
	}
	if acc.Hostname == "" {
		return importRow{}, fmt.Errorf("%w: accept %s: give it a hostname", ErrInvalid, mac)
	}
	next := cur
	next.Hostname, next.ManagementIP, next.Profile = acc.Hostname, acc.ManagementIP, acc.Profile
	if err := validateHost(&next, pc); err != nil {
		return importRow{}, err
	}
	if acc.Profile != "" {
		if _, ok := m.reg.Profile(acc.Profile); !ok {
			return importRow{}, fmt.Errorf("%w: host %s: profile %q does not exist", ErrInvalid, mac, acc.Profile)
		}
	}
	if err := ids.claim(next); err != nil {
		return importRow{}, err
	}
	next.UpdatedAt = now
	return importRow{Host: next, Prior: &cur, Why: "import serial " + acc.Serial}, nil
}

// attachBMCs gives each row the BMC req names for its MAC, checked: every BMC belongs
// to a row, and one that leaves a field to its pod's defaults finds it there.
func (m *Manager) attachBMCs(ctx context.Context, rows []importRow, bmcs map[string]BMC) error {
	if len(bmcs) == 0 {
		return nil
	}
	byMAC := map[string]*importRow{}
	for i := range rows {
		byMAC[rows[i].Host.MAC] = &rows[i]
	}
	for mac := range bmcs {
		norm, err := NormalizeMAC(mac)
		if err != nil {
			return err
		}
		if byMAC[norm] == nil {
			return fmt.Errorf("%w: bmc for host %s, which no row of the import names", ErrInvalid, mac)
		}
	}
	return m.store.View(ctx, func(tx ReadTx) error {
		for i := range rows {
			r := &rows[i]
			b, ok := bmcs[r.Host.MAC]
			if !ok {
				continue
			}
			b.MAC = r.Host.MAC
			if err := b.Validate(); err != nil {
				return fmt.Errorf("%s: %w", r.label(), err)
			}
			if err := checkPodBMCCovers(tx, r.Host.Pod, b); err != nil {
				return fmt.Errorf("%s: %w", r.label(), err)
			}
			r.BMC = &b
		}
		return nil
	})
}

// label names a row in messages: its MAC, and the serial it was found by.
func (r importRow) label() string {
	if r.Prior != nil {
		return fmt.Sprintf("host %s (%s)", r.Host.MAC, r.Why)
	}
	return "host " + r.Host.MAC
}

// writeImport writes rows in one transaction or, when the store bounds its
// transactions and they do not fit, in journaled parts (importHosts).
func (m *Manager) writeImport(ctx context.Context, a Actor, rows []importRow, withBMCs bool) error {
	if c, ok := m.store.(HostChunker); ok {
		if per := c.HostsPerTxn(withBMCs); len(rows) > per {
			return m.importHosts(ctx, a, rows, per)
		}
	}
	detail := fmt.Sprintf("%d hosts", len(rows))
	if len(rows) == 1 {
		detail = rows[0].Host.MAC
	}
	err := m.update(ctx, func(tx Tx) error { return m.writeRows(tx, a, "", rows, detail) })
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		return fmt.Errorf("import %d hosts: %w", len(rows), err) // the outcome is unknown
	case err != nil:
		return fmt.Errorf("import %d hosts: %w; nothing was imported", len(rows), err)
	}
	return nil
}
