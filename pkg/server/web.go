package server

import (
	"net/http"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/promsd"
	"github.com/podboot/podboot/pkg/web"
)

// openFleetViews mounts Prometheus service discovery on the API and builds the web
// dashboard the management listener serves under /ui/.
func (s *Server) openFleetViews() error {
	resolve := func(ref string) (string, bool) {
		a, ok := s.artifacts.Resolve(ref)
		return a.Ref(), ok
	}
	s.api.Mount(promsd.New(s.cfg.PrometheusSD, s.mgr.Registry(), resolve, s.log).Routes()...)
	fl := fleet.NewService(s.mgr, s.relays) // reads only: the deadlines run in openFleet's
	fl.SetRelaySilence(s.cfg.Fleet.RelaySilence)
	s.ui = web.New(s.mgr, fl, s.log).Handler()
	return nil
}

// mountUI serves the dashboard under /ui/ and sends a browser at / there.
func (s *Server) mountUI(mux *http.ServeMux) {
	mux.Handle("/ui/", s.ui)
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
}
