package bmc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// ImportRequest is POST /api/v1/hosts/import, one `host import` CSV: hosts to
// register, discovered hosts to accept by serial, and the BMCs of either, written all
// or none. The route lives with the BMC service because its rows carry BMC passwords,
// which only this service seals (bound to the host's MAC, known for a serial row only
// once its discovered host is found).
type ImportRequest struct {
	Hosts   []podmgr.Host         `json:"hosts,omitempty"`
	Serials []podmgr.SerialAccept `json:"serials,omitempty"`
	// BMCByMAC holds the BMCs of Hosts' rows, BMCBySerial those of Serials' rows.
	BMCByMAC    map[string]Settings `json:"bmcByMac,omitempty"`
	BMCBySerial map[string]Settings `json:"bmcBySerial,omitempty"`
}

// Import finds the discovered host of every serial row, seals every row's BMC password
// and hands the whole import to the manager (podmgr.Manager.Import: all or none).
func (s *Service) Import(ctx context.Context, a podmgr.Actor, in ImportRequest) ([]podmgr.Host, error) {
	acc, err := s.mgr.ResolveSerials(ctx, in.Serials)
	if err != nil {
		return nil, err
	}
	req := podmgr.ImportRequest{Hosts: in.Hosts, Accepts: acc, BMCs: map[string]podmgr.BMC{}}
	for mac, set := range in.BMCByMAC {
		if err := s.addImportBMC(req.BMCs, mac, set); err != nil {
			return nil, err
		}
	}
	for _, r := range acc {
		if set, ok := in.BMCBySerial[r.Serial]; ok {
			if err := s.addImportBMC(req.BMCs, r.MAC, set); err != nil {
				return nil, fmt.Errorf("serial %s: %w", r.Serial, err)
			}
		}
	}
	if len(in.BMCBySerial) > 0 && len(req.BMCs) != len(in.BMCByMAC)+len(in.BMCBySerial) {
		return nil, fmt.Errorf("%w: a bmc is given for a serial no row names", podmgr.ErrInvalid)
	}
	return s.mgr.Import(ctx, a, req)
}

// addImportBMC seals a row's BMC password for mac and adds the record to bmcs.
func (s *Service) addImportBMC(bmcs map[string]podmgr.BMC, mac string, in Settings) error {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return err
	}
	if in.CACert != "" {
		if _, err := newRedfish(Endpoint{Address: in.Address, CACert: in.CACert}); err != nil {
			return fmt.Errorf("%w: host %s: %v", podmgr.ErrInvalid, mac, err)
		}
	}
	b := podmgr.BMC{MAC: mac, Driver: in.Driver, Address: in.Address, Port: in.Port, User: in.User, InsecureTLS: in.InsecureTLS, CACert: in.CACert}
	if in.Password != "" {
		if b.Password, err = s.keys.Seal(mac, []byte(in.Password)); err != nil {
			return fmt.Errorf("seal bmc password of %s: %w", mac, err)
		}
	}
	bmcs[mac] = b
	return nil
}

func (s *Service) postImport(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in ImportRequest
	if !api.DecodeJSONLimit(w, r, &in, api.DefaultBulkBodyBytes) {
		return
	}
	hs, err := s.Import(r.Context(), a, in)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	for i := range hs {
		hs[i].TokenHash = ""
	}
	api.WriteJSON(w, http.StatusOK, hs)
}
