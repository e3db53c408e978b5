package api

import (
	"net/http"

	"github.com/podboot/podboot/pkg/podmgr"
)

// SerialAcceptRequest accepts discovered hosts by the DMI serial their inspection
// reported, all or none (POST /api/v1/hosts/accept-serial). `host import` sends its
// serial rows with the rest of the CSV to pkg/bmc's POST /api/v1/hosts/import instead.
type SerialAcceptRequest struct {
	Hosts []podmgr.SerialAccept `json:"hosts"`
}

func (s *Server) acceptBySerial(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var req SerialAcceptRequest
	if !s.DecodeJSON(w, r, &req) {
		return
	}
	hs, err := s.mgr.AcceptBySerial(r.Context(), a, req.Hosts)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	for i := range hs {
		hs[i] = publicHost(hs[i])
	}
	WriteJSON(w, http.StatusOK, hs)
}
