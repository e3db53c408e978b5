package podmgr

import (
	"context"
	"fmt"
	"time"
)

// PodBMC holds the BMC defaults of a pod: what every host of the pod whose own BMC
// record leaves a field empty uses (pkg/bmc merges them, the host's record winning
// field by field). It is its own record, keyed by the pod's name, so the sealed
// password never travels with the pod record (which the API, the registry and the
// change feed all carry). Password is sealed by pkg/bmc/cred with the additional data
// PodBMCSealKey(pod), so it opens for no host's record and no other pod.
type PodBMC struct {
	Pod         string    `json:"pod"`
	Driver      BMCDriver `json:"driver,omitempty"`
	Port        int       `json:"port,omitempty"`
	User        string    `json:"user,omitempty"`
	Password    []byte    `json:"password,omitempty"`
	InsecureTLS bool      `json:"insecureTls,omitempty"`
	CACert      string    `json:"caCert,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// PodBMCSealKey is the additional data a pod's default password is sealed with: it
// cannot collide with a MAC.
func PodBMCSealKey(pod string) string { return "pod:" + pod }

// Validate checks the fields an operator sets.
func (b PodBMC) Validate() error {
	switch b.Driver {
	case "", BMCIPMI, BMCRedfish:
	default:
		return fmt.Errorf("%w: pod %s: bmc driver %q: want ipmi or redfish", ErrInvalid, b.Pod, b.Driver)
	}
	if b.Port < 0 || b.Port > 65535 {
		return fmt.Errorf("%w: pod %s: bmc port %d out of range", ErrInvalid, b.Pod, b.Port)
	}
	if len(b.User) > 64 {
		return fmt.Errorf("%w: pod %s: bmc user longer than 64 characters", ErrInvalid, b.Pod)
	}
	if b.InsecureTLS && b.CACert != "" {
		return fmt.Errorf("%w: pod %s: bmc insecureTLS and caCert exclude each other", ErrInvalid, b.Pod)
	}
	return nil
}

// SetPodBMC stores the BMC defaults of an existing pod, audited (without the secret).
func (m *Manager) SetPodBMC(ctx context.Context, a Actor, b PodBMC) error {
	if err := b.Validate(); err != nil {
		return err
	}
	b.UpdatedAt = m.now().UTC()
	return m.store.Update(ctx, func(tx Tx) error {
		if _, ok, err := tx.Pod(b.Pod); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: pod %s", ErrNotFound, b.Pod)
		}
		if err := tx.PutPodBMC(b); err != nil {
			return fmt.Errorf("store bmc defaults of pod %s: %w", b.Pod, err)
		}
		return m.audit(tx, a, "pod.bmc.set", b.Pod, "", fmt.Sprintf("driver=%s user=%s password=%v", b.Driver, b.User, len(b.Password) > 0))
	})
}

// PodBMCOf reads the BMC defaults of a pod (with the sealed password).
func (m *Manager) PodBMCOf(ctx context.Context, pod string) (PodBMC, bool, error) {
	var b PodBMC
	var ok bool
	err := m.store.View(ctx, func(tx ReadTx) error {
		var err error
		b, ok, err = tx.PodBMC(pod)
		return err
	})
	return b, ok, err
}
