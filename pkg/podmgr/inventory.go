package podmgr

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MaxInventorySize bounds a stored inventory (JSON bytes).
const MaxInventorySize = 64 << 10

// Inventory is what a host's stage1 agent reported about its hardware before it
// touched a disk (DMI, CPUs, memory, disks, NICs). Data is the agent protocol's JSON
// (proto.Inventory), kept as sent: podmgr stores and serves it, the agent and the
// clients give it meaning. A record of its own, keyed by MAC, not a field of Host.
type Inventory struct {
	MAC       string          `json:"mac"`
	UpdatedAt time.Time       `json:"updatedAt"`
	Data      json.RawMessage `json:"data"`
}

// RecordInventory checks the host's provisioning token and, in the same transaction,
// stores the inventory and records the event (action, with a summary as detail);
// consume clears the token (a discovered host's inspection is over).
func (m *Manager) RecordInventory(ctx context.Context, mac, secret, source, action, summary string, data []byte, consume bool, guards ...HostGuard) (Host, error) {
	if len(data) > MaxInventorySize {
		return Host{}, fmt.Errorf("%w: inventory of %d bytes, at most %d", ErrInvalid, len(data), MaxInventorySize)
	}
	if !json.Valid(data) {
		return Host{}, fmt.Errorf("%w: inventory is not JSON", ErrInvalid)
	}
	now := m.now()
	return m.hostUpdate(ctx, mac, func(h *Host) (Event, error) {
		if err := tokenValid(*h, secret, now); err != nil {
			return Event{}, err
		}
		ev := Event{Source: source, Action: action, Detail: summary}
		if consume {
			h.TokenHash, h.TokenExpires = "", time.Time{}
			h.State, h.StateReason = StateDiscovered, "inspected; install it with podboot host accept"
			ev.State = StateDiscovered
		}
		return ev, nil
	}, append([]HostGuard{func(tx Tx, h Host) error {
		return tx.PutInventory(Inventory{MAC: h.MAC, UpdatedAt: now.UTC(), Data: append(json.RawMessage(nil), data...)})
	}}, guards...)...)
}

// HostInventory returns a host's last inventory; ok is false when it has none.
func (m *Manager) HostInventory(ctx context.Context, mac string) (inv Inventory, ok bool, err error) {
	mac, err = NormalizeMAC(mac)
	if err != nil {
		return inv, false, err
	}
	err = m.store.View(ctx, func(tx ReadTx) error {
		if _, found, err := tx.Host(mac); err != nil || !found {
			if err == nil {
				err = fmt.Errorf("%w: host %s", ErrNotFound, mac)
			}
			return err
		}
		inv, ok, err = tx.Inventory(mac)
		return err
	})
	return inv, ok, err
}
