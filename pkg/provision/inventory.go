package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// inventory stores what the agent found on the host (agentproto.Inventory) and records an
// agent.inventory event with a one-line summary. The body is checked to be an
// inventory (strict JSON, bounded) and stored as sent.
func (s *Service) inventory(w http.ResponseWriter, r *http.Request, c call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, podmgr.MaxInventorySize+1))
	if err != nil {
		http.Error(w, "read inventory", http.StatusBadRequest)
		return
	}
	if len(body) > podmgr.MaxInventorySize {
		http.Error(w, fmt.Sprintf("inventory over %d bytes", podmgr.MaxInventorySize), http.StatusRequestEntityTooLarge)
		return
	}
	var inv agentproto.Inventory
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		http.Error(w, "inventory: "+err.Error(), http.StatusBadRequest)
		return
	}
	// A discovered host's inspection ends here: its token is consumed.
	if _, err := s.mgr.RecordInventory(r.Context(), c.host.MAC, c.token, c.source, agentproto.ActionInventory, clip(inventorySummary(inv)), body, c.host.Discovered, s.guards()...); err != nil {
		switch {
		case errors.Is(err, podmgr.ErrHostToken):
			http.Error(w, "provisioning token refused", http.StatusForbidden)
		case errors.Is(err, podmgr.ErrNotOwner):
			writeNotOwner(w, err)
		case errors.Is(err, podmgr.ErrInvalid):
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			s.logFor(c).Error("store inventory", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	if c.host.Discovered {
		// The pod's accept rules may register it now; it installs on its next boot.
		if h, ok, err := s.mgr.ApplyAcceptRules(r.Context(), c.host.MAC, inv); err != nil {
			s.logFor(c).Warn("accept rule matched but was not applied", "err", err)
		} else if ok {
			s.logFor(c).Info("discovered host accepted by a pod accept rule", "hostname", h.Hostname)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// inventorySummary is the event detail: what an operator scanning events wants.
func inventorySummary(inv agentproto.Inventory) string {
	s := fmt.Sprintf("%s %s serial=%q cpus=%d memory=%dMiB", inv.System.Vendor, inv.System.Product, inv.System.Serial, inv.CPU.Count, inv.MemoryBytes>>20)
	for _, d := range inv.Disks {
		s += fmt.Sprintf(" disk=%s:%dMB:%s:%q", d.Name, d.SizeBytes/1000/1000, d.Bus, d.Serial)
	}
	if inv.BMC != nil {
		s += fmt.Sprintf(" bmc=%s", inv.BMC.Address)
	}
	for _, n := range inv.NICs {
		s += fmt.Sprintf(" nic=%s:%s:%s", n.Name, n.MAC, n.Driver)
		if n.LLDP != nil {
			s += fmt.Sprintf(":lldp=%q/%q", n.LLDP.SystemName, n.LLDP.PortID)
		}
	}
	return s
}
