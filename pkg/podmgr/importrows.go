package podmgr

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// importRow is one host an import writes: a new host (Prior nil), or a discovered host
// it accepts (Prior: the discovered record, put back if the import is undone), with the
// BMC record the row sets, if any (PriorBMC: the accepted host's BMC before, if any).
type importRow struct {
	Host     Host
	Prior    *Host
	BMC      *BMC
	PriorBMC *BMC
	// Why says what matched an accepted host ("import serial …").
	Why string
}

func newHostRows(hs []Host) []importRow {
	rows := make([]importRow, len(hs))
	for i, h := range hs {
		rows[i] = importRow{Host: h}
	}
	return rows
}

// ImportedAccept is what undoing one accept of an import needs: the discovered host's
// record as the import found it, and its BMC record before the import (nil: none)
// when the import set one.
type ImportedAccept struct {
	Prior    Host `json:"prior"`
	SetBMC   bool `json:"setBmc,omitempty"`
	PriorBMC *BMC `json:"priorBmc,omitempty"`
}

// UndoAccept puts an accepted host back as a.Prior was, if it is still the host this
// import accepted (not deleted, re-created or re-discovered since), and its BMC as it
// was. It reports whether it did. Both the importing Manager and a replica rolling back
// an abandoned import (etcd) use it.
func UndoAccept(tx Tx, a ImportedAccept, now time.Time) (bool, error) {
	cur, ok, err := tx.Host(a.Prior.MAC)
	if err != nil || !ok || cur.Discovered || !cur.CreatedAt.Equal(a.Prior.CreatedAt) {
		return false, err
	}
	prior := a.Prior
	prior.UpdatedAt = now
	if err := tx.PutHost(prior); err != nil {
		return false, err
	}
	if a.SetBMC {
		if a.PriorBMC != nil {
			err = tx.PutBMC(*a.PriorBMC)
		} else {
			err = tx.DeleteBMC(a.Prior.MAC)
		}
	}
	return err == nil, err
}

// writeRows writes an import's rows in tx: it repeats the registry's checks against the
// store (new MACs free, accepted hosts still discovered, pods' BMC defaults there for
// rows that rely on them), records the part when id is journaled, and stores hosts,
// events, BMCs and one audit record.
func (m *Manager) writeRows(tx Tx, a Actor, id string, rows []importRow, detail string) error {
	var fresh []Host
	for _, r := range rows {
		if r.Prior == nil {
			fresh = append(fresh, r.Host)
		}
	}
	if len(fresh) > 0 {
		if err := checkNewHosts(tx, fresh); err != nil {
			return err
		}
	}
	var accepted []ImportedAccept
	for i := range rows {
		r := &rows[i]
		if r.BMC != nil {
			if err := checkPodBMCCovers(tx, r.Host.Pod, *r.BMC); err != nil {
				return err
			}
		}
		if r.Prior == nil {
			continue
		}
		cur, err := m.stillDiscovered(tx, *r)
		if err != nil {
			return err
		}
		r.Prior, r.PriorBMC = &cur, nil
		if r.BMC != nil {
			if b, ok, err := tx.BMC(cur.MAC); err != nil {
				return err
			} else if ok {
				r.PriorBMC = &b
			}
		}
		accepted = append(accepted, ImportedAccept{Prior: cur, SetBMC: r.BMC != nil, PriorBMC: r.PriorBMC})
	}
	if rec, ok := tx.(ImportPartTx); ok && id != "" {
		macs := make([]string, len(fresh))
		for i, h := range fresh {
			macs[i] = h.MAC
		}
		if err := rec.RecordImportPart(id, macs, rows[0].Host.UpdatedAt, accepted); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := m.putRow(tx, a, r); err != nil {
			return err
		}
	}
	action := "host.add"
	if len(accepted) > 0 {
		action = "host.import"
	}
	return m.audit(tx, a, action, rows[0].Host.Pod, "", detail)
}

// stillDiscovered reads an accept row's host in tx: it must still be the discovered
// host the registry showed (another replica may have accepted or deleted it).
func (m *Manager) stillDiscovered(tx Tx, r importRow) (Host, error) {
	cur, ok, err := tx.Host(r.Host.MAC)
	if err != nil {
		return Host{}, err
	}
	if !ok || !cur.Discovered || !cur.CreatedAt.Equal(r.Prior.CreatedAt) {
		return Host{}, fmt.Errorf("%w: host %s (%s) was accepted, deleted or registered meanwhile", ErrConflict, r.Host.MAC, r.Why)
	}
	if r.Host.Profile != "" {
		if err := mustExist(tx.Profile, "profile", r.Host.Profile); err != nil {
			return Host{}, err
		}
	}
	return cur, nil
}

// stored is the row's host as the import stores it: an accepted host is its record as
// found in the store, with what the row sets.
func (r importRow) stored() Host {
	if r.Prior == nil {
		return r.Host
	}
	h := *r.Prior
	h.Hostname, h.ManagementIP, h.Profile = r.Host.Hostname, r.Host.ManagementIP, r.Host.Profile
	h.Discovered, h.State, h.StateReason, h.Netboot = false, StateRegistered, "", true
	h.TokenHash, h.TokenExpires, h.UpdatedAt = "", time.Time{}, r.Host.UpdatedAt
	return h
}

// putRow stores one row's host, its event and its BMC.
func (m *Manager) putRow(tx Tx, a Actor, r importRow) error {
	h := r.Host
	ev := Event{Time: h.UpdatedAt, Kind: KindHost, Pod: h.Pod, MAC: h.MAC, Actor: a.Name, Source: a.Source, Action: "registered", State: StateRegistered}
	if r.Prior != nil {
		h = r.stored()
		ev.Action = "accepted"
		ev.Detail = fmt.Sprintf("hostname=%s mgmt-ip=%s profile=%s; installed on its next boot; matched %s", h.Hostname, h.ManagementIP, h.Profile, r.Why)
	}
	if err := tx.PutHost(h); err != nil {
		return err
	}
	if _, err := tx.AppendEvent(ev); err != nil {
		return err
	}
	if r.BMC != nil {
		b := *r.BMC
		b.MAC, b.UpdatedAt = h.MAC, h.UpdatedAt
		if err := tx.PutBMC(b); err != nil {
			return fmt.Errorf("store bmc of %s: %w", h.MAC, err)
		}
	}
	return nil
}

// checkPodBMCCovers says whether a BMC record that leaves driver, user or password to
// its pod's defaults has defaults that set them.
func checkPodBMCCovers(tx ReadTx, pod string, b BMC) error {
	missing := b.missing()
	if len(missing) == 0 {
		return nil
	}
	d, ok, err := tx.PodBMC(pod)
	if err != nil {
		return fmt.Errorf("bmc defaults of pod %s: %w", pod, err)
	}
	var gaps []string
	for _, f := range missing {
		if !ok || !slices.Contains(b.ReliesOn(d), f) {
			gaps = append(gaps, f)
		}
	}
	if len(gaps) == 0 {
		return nil
	}
	if !ok {
		return fmt.Errorf("%w: bmc %s gives no %s and pod %s has no bmc defaults: give bmc_driver, bmc_user and bmc_password_file, or set the pod's (pod apply with a bmc: section)",
			ErrInvalid, b.Address, strings.Join(gaps, ", "), pod)
	}
	return fmt.Errorf("%w: bmc %s gives no %s and pod %s's bmc defaults set none either", ErrInvalid, b.Address, strings.Join(gaps, ", "), pod)
}

// missing names the fields a BMC needs (driver, user, password) that b leaves empty.
func (b BMC) missing() []string {
	var out []string
	if b.Driver == "" {
		out = append(out, "driver")
	}
	if b.User == "" {
		out = append(out, "user")
	}
	if len(b.Password) == 0 {
		out = append(out, "password")
	}
	return out
}
