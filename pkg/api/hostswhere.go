package api

import (
	"net/http"

	"github.com/podboot/podboot/pkg/podmgr"
)

// listHostsWhere answers GET /api/v1/hosts?where=FIELD=VALUE[&where=…][&pod=POD]: the
// hosts whose stored inventory meets every condition (podmgr.InventoryCond), a scan of
// the inventories (of one pod's hosts with pod=).
func (s *Server) listHostsWhere(w http.ResponseWriter, r *http.Request, where []string) {
	var conds []podmgr.InventoryCond
	for _, c := range where {
		cond, err := podmgr.ParseInventoryCond(c)
		if err != nil {
			s.WriteErr(w, r, err)
			return
		}
		conds = append(conds, cond)
	}
	macs, err := s.mgr.SearchInventories(r.Context(), r.URL.Query().Get("pod"), conds)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	out := []HostView{}
	reg := s.mgr.Registry()
	for _, mac := range macs {
		if h, ok := reg.Host(mac); ok {
			out = append(out, s.hostView(h))
		}
	}
	WriteJSON(w, http.StatusOK, out)
}
