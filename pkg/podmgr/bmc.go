package podmgr

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// BMCDriver names the protocol podboot speaks to a host's BMC.
type BMCDriver string

const (
	// BMCIPMI is IPMI v2.0 over LAN (RMCP+, "lanplus").
	BMCIPMI BMCDriver = "ipmi"
	// BMCRedfish is DMTF Redfish over HTTPS.
	BMCRedfish BMCDriver = "redfish"
)

// BMC is how podboot reaches a host's baseboard management controller. It is its own
// record (keyed by the host's MAC) rather than part of the host, so the hot-path host
// codec stays small and the secret never travels with a host. Password holds the
// password sealed by the server's BMC key (pkg/bmc/cred): podmgr never sees it in clear.
type BMC struct {
	MAC         string    `json:"mac"`
	Driver      BMCDriver `json:"driver"`
	Address     string    `json:"address"`
	Port        int       `json:"port,omitempty"`
	User        string    `json:"user"`
	Password    []byte    `json:"password"`
	InsecureTLS bool      `json:"insecureTls,omitempty"`
	CACert      string    `json:"caCert,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Validate checks the fields an operator sets. Driver, user and password may be empty:
// the host then uses its pod's BMC defaults (PodBMC).
func (b BMC) Validate() error {
	switch b.Driver {
	case "", BMCIPMI, BMCRedfish: // "": the pod's default
	default:
		return fmt.Errorf("%w: bmc driver %q: want ipmi or redfish", ErrInvalid, b.Driver)
	}
	if b.Address == "" || len(b.Address) > 253 || strings.ContainsAny(b.Address, " /?#@[]\t\r\n") {
		return fmt.Errorf("%w: bmc address %q: want a host name or IP address", ErrInvalid, b.Address)
	}
	if b.Port < 0 || b.Port > 65535 {
		return fmt.Errorf("%w: bmc port %d out of range", ErrInvalid, b.Port)
	}
	if len(b.User) > 64 {
		return fmt.Errorf("%w: bmc user longer than 64 characters", ErrInvalid)
	}
	if b.InsecureTLS && b.CACert != "" {
		return fmt.Errorf("%w: bmc: --insecure-tls and a CA certificate exclude each other", ErrInvalid)
	}
	return nil
}

// SetBMC stores the BMC of an existing host, audited (without the secret).
func (m *Manager) SetBMC(ctx context.Context, a Actor, b BMC) error {
	mac, err := NormalizeMAC(b.MAC)
	if err != nil {
		return err
	}
	b.MAC = mac
	if err := b.Validate(); err != nil {
		return err
	}
	b.UpdatedAt = m.now().UTC()
	return m.store.Update(ctx, func(tx Tx) error {
		h, ok, err := tx.Host(mac)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: host %s", ErrNotFound, mac)
		}
		if err := tx.PutBMC(b); err != nil {
			return fmt.Errorf("store bmc of %s: %w", mac, err)
		}
		return m.audit(tx, a, "host.bmc.set", h.Pod, mac, fmt.Sprintf("driver=%s address=%s user=%s", b.Driver, b.Address, b.User))
	})
}

// BMCOf reads the BMC record of a host (with the sealed password).
func (m *Manager) BMCOf(ctx context.Context, mac string) (BMC, bool, error) {
	mac, err := NormalizeMAC(mac)
	if err != nil {
		return BMC{}, false, err
	}
	var b BMC
	var ok bool
	err = m.store.View(ctx, func(tx ReadTx) error {
		var err error
		b, ok, err = tx.BMC(mac)
		return err
	})
	return b, ok, err
}

// RecordBMCAction puts a BMC operation on the host's timeline and in the audit log, in
// one transaction. It uses Batch: a bulk operation over a pod records hundreds of these
// at once, and one commit each would bound it by the disk's fsync rate.
func (m *Manager) RecordBMCAction(ctx context.Context, a Actor, mac, action, detail string) error {
	return m.store.Batch(ctx, func(tx Tx) error {
		h, ok, err := tx.Host(mac)
		if err != nil || !ok {
			return err
		}
		now := m.now().UTC()
		if _, err := tx.AppendEvent(Event{Time: now, Kind: KindHost, Pod: h.Pod, MAC: mac, Actor: a.Name, Source: a.Source, Action: action, Detail: detail}); err != nil {
			return err
		}
		return m.audit(tx, a, "host."+action, h.Pod, mac, detail)
	})
}
