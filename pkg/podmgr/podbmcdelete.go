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
// host's BMC, or leave it unreachable. The check and the delete are one transaction, so
// a host BMC written meanwhile on another replica is seen.
func (m *Manager) DeletePodBMC(ctx context.Context, a Actor, pod string) error {
	return m.store.Update(ctx, func(tx Tx) error {
		d, ok, err := tx.PodBMC(pod)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: pod %s has no bmc defaults", ErrNotFound, pod)
		}
		macs, err := tx.HostsOfPod(pod)
		if err != nil {
			return fmt.Errorf("hosts of pod %s: %w", pod, err)
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
		if n > 0 {
			more := ""
			if n > len(reliant) {
				more = fmt.Sprintf(" and %d more", n-len(reliant))
			}
			return fmt.Errorf("%w: pod %s: %d hosts rely on its bmc defaults for fields they do not set themselves: %s%s; give them their own (host bmc set) first",
				ErrConflict, pod, n, strings.Join(reliant, "; "), more)
		}
		if err := tx.DeletePodBMC(pod); err != nil {
			return fmt.Errorf("delete bmc defaults of pod %s: %w", pod, err)
		}
		return m.audit(tx, a, "pod.bmc.delete", pod, "", fmt.Sprintf("driver=%s user=%s password=%v", d.Driver, d.User, len(d.Password) > 0))
	})
}
