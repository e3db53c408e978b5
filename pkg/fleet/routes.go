package fleet

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// HostTimelineResult answers GET /api/v1/hosts/{mac}/timeline.
type HostTimelineResult struct {
	MAC string `json:"mac"`
	// Attempts are the provision attempts in the host's stored events, oldest first.
	Attempts []Timeline `json:"attempts"`
}

// DefaultCheckMinutes is the window of `pod check` when none is asked for.
const DefaultCheckMinutes = 15

// maxCheckMinutes bounds the check window (the relay log keeps at most a day's worth
// of meaning anyway: a relay quiet for longer is as good as unheard).
const maxCheckMinutes = 24 * 60

// Routes are the fleet endpoints, for api.Server.Mount; readers may call them.
func (s *Service) Routes(log *slog.Logger) []api.Route {
	rd := api.Readers()
	return []api.Route{
		{Method: "GET", Path: "/api/v1/status", Allow: rd, Handler: func(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
			st, err := s.Status(r.Context())
			if err != nil {
				api.WriteServerErr(w, r, log, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, st)
		}},
		{Method: "GET", Path: "/api/v1/pods/{name}/status", Allow: rd, Handler: func(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
			st, err := s.Status(r.Context(), r.PathValue("name"))
			if err != nil {
				api.WriteServerErr(w, r, log, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, st[0])
		}},
		{Method: "GET", Path: "/api/v1/pods/{name}/check", Allow: rd, Handler: func(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
			minutes := DefaultCheckMinutes
			if v := r.URL.Query().Get("minutes"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > maxCheckMinutes {
					api.WriteError(w, http.StatusBadRequest, fmt.Errorf("minutes %s: use 1-%d", api.Quote(v), maxCheckMinutes))
					return
				}
				minutes = n
			}
			rep, err := s.Check(r.PathValue("name"), time.Duration(minutes)*time.Minute)
			if err != nil {
				api.WriteServerErr(w, r, log, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, rep)
		}},
		{Method: "GET", Path: "/api/v1/hosts/{mac}/timeline", Allow: rd, Handler: func(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
			mac, err := podmgr.NormalizeMAC(r.PathValue("mac"))
			if err != nil {
				api.WriteServerErr(w, r, log, err)
				return
			}
			ts, err := s.HostTimeline(r.Context(), mac)
			if err != nil {
				api.WriteServerErr(w, r, log, err)
				return
			}
			if ts == nil {
				ts = []Timeline{}
			}
			api.WriteJSON(w, http.StatusOK, HostTimelineResult{MAC: mac, Attempts: ts})
		}},
	}
}
