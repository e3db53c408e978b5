package podmgr

import (
	"context"
	"fmt"
	"strings"
)

// ReliesOn names the fields of a host's BMC record that its pod's defaults d fill in
// (pkg/bmc merges them field by field): those the host leaves empty and d sets. The
// address is always the host's own.
func (b BMC) ReliesOn(d PodBMC) []string {
	var out []string
	if b.Driver == "" && d.Driver != "" {
		out = append(out, "driver")
	}
	if b.Port == 0 && d.Port != 0 {
		out = append(out, "port")
	}
	if b.User == "" && d.User != "" {
		out = append(out, "user")
	}
	if len(b.Password) == 0 && len(d.Password) > 0 {
		out = append(out, "password")
	}
	if !b.InsecureTLS && b.CACert == "" && (d.InsecureTLS || d.CACert != "") {
		out = append(out, "tls")
	}
	return out
}

// reliantShown bounds how many hosts a refused DeletePodBMC names.
const reliantShown = 5

// DeletePodBMC removes a pod's BMC defaults (with their sealed password), audited. It
// refuses (ErrConflict, naming a few) while a host of the pod relies on them for a field
// its own BMC record does not set: deleting them would change how podboot reaches that
// host's BMC, or leave it unreachable. The hosts are checked on a snapshot (a pod's
// hosts are more than one etcd transaction may compare); the delete then requires the
// defaults to be the ones checked. A host BMC set on another replica in that instant
// can slip through: its BMC operations then fail naming the missing field.
func (m *Manager) DeletePodBMC(ctx context.Context, a Actor, pod string) error {
	var d PodBMC
	err := m.store.View(ctx, func(tx ReadTx) error {
		var ok bool
		var err error
		if d, ok, err = tx.PodBMC(pod); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: pod %s has no bmc defaults", ErrNotFound, pod)
		}
		return checkNoneRelies(tx, d)
	})
	if err != nil {
		return err
	}
	err = m.store.Update(ctx, func(tx Tx) error {
		cur, ok, err := tx.PodBMC(pod)
		if err != nil {
			return err
		}
		if !ok || !cur.UpdatedAt.Equal(d.UpdatedAt) {
			return fmt.Errorf("%w: pod %s: bmc defaults changed meanwhile: run the delete again", ErrConflict, pod)
		}
		if err := tx.DeletePodBMC(pod); err != nil {
			return fmt.Errorf("delete bmc defaults of pod %s: %w", pod, err)
		}
		return m.audit(tx, a, "pod.bmc.delete", pod, "", fmt.Sprintf("driver=%s user=%s password=%v", d.Driver, d.User, len(d.Password) > 0))
	})
	if err != nil {
		return err
	}
	m.log.Info("pod bmc defaults deleted", "pod", pod, "actor", a.Name)
	return nil
}

// checkNoneRelies refuses, naming a few, when a host of d's pod relies on d.
func checkNoneRelies(tx ReadTx, d PodBMC) error {
	macs, err := tx.HostsOfPod(d.Pod)
	if err != nil {
		return fmt.Errorf("hosts of pod %s: %w", d.Pod, err)
	}
	var reliant []string
	n := 0
	for _, mac := range macs {
		b, ok, err := tx.BMC(mac)
		if err != nil {
			return fmt.Errorf("bmc of host %s: %w", mac, err)
		}
		if f := b.ReliesOn(d); ok && len(f) > 0 {
			n++
			if len(reliant) < reliantShown {
				reliant = append(reliant, fmt.Sprintf("%s (%s)", mac, strings.Join(f, ", ")))
			}
		}
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > len(reliant) {
		more = fmt.Sprintf(" and %d more", n-len(reliant))
	}
	return fmt.Errorf("%w: pod %s: %d hosts rely on its bmc defaults for fields they do not set themselves: %s%s; give them their own (host bmc set) first",
		ErrConflict, d.Pod, n, strings.Join(reliant, "; "), more)
}
