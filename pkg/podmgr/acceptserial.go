package podmgr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
)

// SerialAccept is one `host import` row keyed by serial number: the discovered host
// whose inventory has this DMI serial is accepted with the rest.
type SerialAccept struct {
	Serial string `json:"serial"`
	// Pod narrows the search to one pod; empty: every pod.
	Pod          string `json:"pod,omitempty"`
	Hostname     string `json:"hostname"`
	ManagementIP string `json:"managementIP,omitempty"`
	Profile      string `json:"profile,omitempty"`
}

// Accept is an import row that accepts the discovered host MAC (found by Serial, which
// the row's messages name) as AcceptHost does.
type Accept struct {
	MAC          string
	Serial       string
	Hostname     string
	ManagementIP string
	Profile      string
}

// AcceptBySerial accepts discovered hosts by the DMI serial their inspection reported,
// all or none (ResolveSerials, then Import).
func (m *Manager) AcceptBySerial(ctx context.Context, a Actor, rows []SerialAccept) ([]Host, error) {
	acc, err := m.ResolveSerials(ctx, rows)
	if err != nil {
		return nil, err
	}
	return m.Import(ctx, a, ImportRequest{Accepts: acc})
}

// ResolveSerials finds the discovered host of each row. Every row must match exactly one
// (in the row's pod, when it names one): a serial matching none, or several, fails the
// whole request, naming the row.
func (m *Manager) ResolveSerials(ctx context.Context, rows []SerialAccept) ([]Accept, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	macs, err := m.discoveredSerials(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	out := make([]Accept, len(rows))
	for i, r := range rows {
		key := strings.ToLower(strings.TrimSpace(r.Serial))
		if key == "" {
			return nil, fmt.Errorf("%w: row %d: no serial", ErrInvalid, i+1)
		}
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: rows %d and %d name serial %s", ErrInvalid, j+1, i+1, r.Serial)
		}
		seen[key] = i
		var found []string
		for _, h := range macs[key] {
			if r.Pod == "" || r.Pod == h.Pod {
				found = append(found, h.MAC)
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("%w: row %d: no discovered host%s reported serial %s (has it booted into inspection yet?); nothing was accepted", ErrNotFound, i+1, inPod(r.Pod), r.Serial)
		case 1:
			out[i] = Accept{MAC: found[0], Serial: r.Serial, Hostname: r.Hostname, ManagementIP: r.ManagementIP, Profile: r.Profile}
		default:
			return nil, fmt.Errorf("%w: row %d: serial %s is reported by %d discovered hosts (%s): accept them by MAC; nothing was accepted", ErrConflict, i+1, r.Serial, len(found), strings.Join(found, ", "))
		}
	}
	return out, nil
}

func inPod(pod string) string {
	if pod == "" {
		return ""
	}
	return " in pod " + pod
}

// discoveredSerials maps lower-cased DMI serials to the discovered hosts that reported
// them. It reads the inventories of discovered hosts only (at most discoverLimit per pod).
func (m *Manager) discoveredSerials(ctx context.Context) (map[string][]Host, error) {
	var hosts []Host
	for _, p := range m.reg.PodNames() {
		for _, h := range m.reg.HostsOfPod(p) {
			if h.Discovered {
				hosts = append(hosts, h)
			}
		}
	}
	slices.SortFunc(hosts, func(a, b Host) int { return strings.Compare(a.MAC, b.MAC) })
	out := map[string][]Host{}
	err := m.store.View(ctx, func(tx ReadTx) error {
		clear(out)
		for _, h := range hosts {
			rec, ok, err := tx.Inventory(h.MAC)
			if err != nil {
				return err
			}
			if !ok {
				continue // not inspected yet: it cannot match
			}
			var inv agentproto.Inventory
			if json.Unmarshal(rec.Data, &inv) == nil && inv.System.Serial != "" {
				k := strings.ToLower(strings.TrimSpace(inv.System.Serial))
				out[k] = append(out[k], h)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read discovered hosts' inventories: %w", err)
	}
	return out, nil
}
