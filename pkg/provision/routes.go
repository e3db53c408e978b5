package provision

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Routes are the management API routes of provisioning, mounted with api.Server.Mount.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/hosts/{mac}/reprovision", Allow: api.Changers(), Handler: s.reprovision},
		{Method: "GET", Path: "/api/v1/watch", Allow: api.Readers(), Handler: s.watch},
	}
}

func (s *Service) reprovision(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	h, err := s.mgr.Reprovision(r.Context(), a, r.PathValue("mac"))
	if err != nil {
		api.WriteServerErr(w, r, s.log, err)
		return
	}
	h.TokenHash = ""
	api.WriteJSON(w, http.StatusOK, h)
}

// WatchLine is one line of the watch stream (NDJSON): first the current state of every
// host of the pod (Action "state"), then each host event as it happens.
type WatchLine = podmgr.Event

// watch streams a pod's host states and then its live host events, one JSON object a
// line, until the client goes away. A keep-alive line (Action "keepalive") every 15s
// lets clients and proxies tell a quiet pod from a dead connection.
func (s *Service) watch(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	pod := r.URL.Query().Get("pod")
	if pod != "" {
		if _, ok := s.reg.Pod(pod); !ok {
			api.WriteError(w, http.StatusNotFound, fmt.Errorf("pod %s not found", pod))
			return
		}
	}
	ch, cancel := s.mgr.Subscribe()
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	pods := s.reg.PodNames()
	if pod != "" {
		pods = []string{pod}
	}
	for _, p := range pods {
		for _, h := range s.reg.HostsOfPod(p) {
			_ = enc.Encode(WatchLine{Time: h.UpdatedAt, Kind: podmgr.KindHost, Pod: h.Pod, MAC: h.MAC, Action: "state", State: h.State, Detail: h.StateReason})
		}
	}
	_ = rc.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			if err := enc.Encode(WatchLine{Time: time.Now().UTC(), Action: "keepalive"}); err != nil {
				return
			}
		case ev := <-ch:
			if pod != "" && ev.Pod != pod {
				continue
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
