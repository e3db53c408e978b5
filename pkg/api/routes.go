package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/podboot/podboot/pkg/podmgr"
)

// ApplyResult answers an idempotent apply.
type ApplyResult[T any] struct {
	Object  T    `json:"object"`
	Created bool `json:"created"`
	Changed bool `json:"changed"`
	// Warnings are what was saved anyway (a profile's missing artifacts, allowMissing).
	Warnings []string `json:"warnings,omitempty"`
}

// HostsRequest registers hosts in bulk (all or none).
type HostsRequest struct {
	Hosts []podmgr.Host `json:"hosts"`
}

// AcceptRequest accepts a discovered host (POST /api/v1/hosts/{mac}/accept).
type AcceptRequest struct {
	Hostname     string `json:"hostname"`
	ManagementIP string `json:"managementIP,omitempty"`
	Profile      string `json:"profile,omitempty"`
}

// NetbootRequest turns a host's netboot off or on (PUT /api/v1/hosts/{mac}/netboot).
// Netboot is required.
type NetbootRequest struct {
	Netboot *bool `json:"netboot"`
}

// NetbootResult answers a netboot change: the host as it is now, and whether the request
// changed it (asking for the setting it already has changes nothing).
type NetbootResult struct {
	Host    podmgr.Host `json:"host"`
	Changed bool        `json:"changed"`
}

// TokenRequest creates a token. AllowKinds and AllowPrefixes grant a ci token what it
// may push (default: stage2, any name).
type TokenRequest struct {
	Name          string      `json:"name"`
	Role          podmgr.Role `json:"role"`
	AllowKinds    []string    `json:"allowKinds,omitempty"`
	AllowPrefixes []string    `json:"allowPrefixes,omitempty"`
}

// TokenCreated carries the secret, shown once.
type TokenCreated struct {
	Token  podmgr.Token `json:"token"`
	Secret string       `json:"secret"`
}

// VersionInfo answers GET /api/v1/version.
type VersionInfo struct {
	Version string `json:"version"`
	API     string `json:"api"`
}

func (s *Server) coreRoutes() []Route {
	all := []podmgr.Role{podmgr.RoleOperator, podmgr.RoleViewer, podmgr.RoleCI}
	return []Route{
		{"GET", "/api/v1/version", all, s.getVersion},
		{"GET", "/api/v1/pods", readers, s.listPods},
		{"POST", "/api/v1/pods", changers, s.createPod},
		{"GET", "/api/v1/pods/{name}", readers, s.getPod},
		{"PUT", "/api/v1/pods/{name}", changers, s.applyPod},
		{"DELETE", "/api/v1/pods/{name}", changers, s.deletePod},
		{"GET", "/api/v1/profiles", readers, s.listProfiles},
		{"POST", "/api/v1/profiles", changers, s.createProfile},
		{"GET", "/api/v1/profiles/{name}", readers, s.getProfile},
		{"PUT", "/api/v1/profiles/{name}", changers, s.applyProfile},
		{"DELETE", "/api/v1/profiles/{name}", changers, s.deleteProfile},
		{"GET", "/api/v1/hosts", readers, s.listHosts},
		{"POST", "/api/v1/hosts", changers, s.addHosts},
		{"GET", "/api/v1/hosts/{mac}", readers, s.getHost},
		{"DELETE", "/api/v1/hosts/{mac}", changers, s.deleteHost},
		{"GET", "/api/v1/hosts/{mac}/events", readers, s.hostEvents},
		{"GET", "/api/v1/hosts/{mac}/inventory", readers, s.hostInventory},
		{"POST", "/api/v1/hosts/{mac}/accept", changers, s.acceptHost},
		{"POST", "/api/v1/hosts/accept-serial", changers, s.acceptBySerial},
		{"PUT", "/api/v1/hosts/{mac}/netboot", changers, s.setNetboot},
		{"GET", "/api/v1/events", readers, s.events},
		{"GET", "/api/v1/tokens", nil, s.listTokens},
		{"POST", "/api/v1/tokens", nil, s.createToken},
		{"DELETE", "/api/v1/tokens/{id}", nil, s.revokeToken},
	}
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	WriteJSON(w, http.StatusOK, VersionInfo{Version: s.version, API: "v1"})
}

// ---- pods ----

func (s *Server) listPods(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	WriteJSON(w, http.StatusOK, nonNil(s.mgr.Pods()))
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	pc, ok := s.mgr.Registry().Pod(r.PathValue("name"))
	if !ok {
		WriteError(w, http.StatusNotFound, fmt.Errorf("%w: pod %s", podmgr.ErrNotFound, r.PathValue("name")))
		return
	}
	WriteJSON(w, http.StatusOK, pc.Pod)
}

func (s *Server) createPod(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var p podmgr.Pod
	if !s.DecodeJSON(w, r, &p) {
		return
	}
	out, err := s.mgr.CreatePod(r.Context(), a, p)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) applyPod(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var p podmgr.Pod
	if !s.DecodeJSON(w, r, &p) {
		return
	}
	if !namedAsPath(w, r, "pod", &p.Name) {
		return
	}
	_, existed := s.mgr.Registry().Pod(p.Name)
	out, changed, err := s.mgr.ApplyPod(r.Context(), a, p)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, ApplyResult[podmgr.Pod]{Object: out, Created: !existed, Changed: changed})
}

// namedAsPath gives an object whose body has no name the path's {name}, and refuses
// (400) a body that names another object than the path.
func namedAsPath(w http.ResponseWriter, r *http.Request, kind string, name *string) bool {
	if *name == "" {
		*name = r.PathValue("name")
	}
	if *name != r.PathValue("name") {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("%s name %q in the body differs from %q in the path", kind, *name, r.PathValue("name")))
		return false
	}
	return true
}

func (s *Server) deletePod(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if err := s.mgr.DeletePod(r.Context(), a, r.PathValue("name"), force); err != nil {
		s.WriteErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- profiles ----

func (s *Server) listProfiles(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	WriteJSON(w, http.StatusOK, nonNil(s.mgr.Profiles()))
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	p, ok := s.mgr.Registry().Profile(r.PathValue("name"))
	if !ok {
		WriteError(w, http.StatusNotFound, fmt.Errorf("%w: profile %s", podmgr.ErrNotFound, r.PathValue("name")))
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (s *Server) createProfile(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var p podmgr.Profile
	if !s.DecodeJSON(w, r, &p) {
		return
	}
	if _, ok := s.profileArtifacts(w, r, p); !ok {
		return
	}
	out, _, err := s.mgr.ApplyProfile(r.Context(), a, p, true)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) applyProfile(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var p podmgr.Profile
	if !s.DecodeJSON(w, r, &p) {
		return
	}
	if !namedAsPath(w, r, "profile", &p.Name) {
		return
	}
	warnings, ok := s.profileArtifacts(w, r, p)
	if !ok {
		return
	}
	_, existed := s.mgr.Registry().Profile(p.Name)
	out, changed, err := s.mgr.ApplyProfile(r.Context(), a, p, false)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, ApplyResult[podmgr.Profile]{Object: out, Created: !existed, Changed: changed, Warnings: warnings})
}

func (s *Server) deleteProfile(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	if err := s.mgr.DeleteProfile(r.Context(), a, r.PathValue("name")); err != nil {
		s.WriteErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- hosts ----

// publicHost hides the token hash from API readers.
func publicHost(h podmgr.Host) podmgr.Host {
	h.TokenHash = ""
	return h
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	reg := s.mgr.Registry()
	pods := reg.PodNames()
	if p := r.URL.Query().Get("pod"); p != "" {
		if _, ok := reg.Pod(p); !ok {
			WriteError(w, http.StatusNotFound, fmt.Errorf("%w: pod %s", podmgr.ErrNotFound, p))
			return
		}
		pods = []string{p}
	}
	out := []HostView{}
	if where := r.URL.Query()["where"]; len(where) > 0 {
		s.listHostsWhere(w, r, where)
		return
	}
	for _, p := range pods {
		for _, h := range reg.HostsOfPod(p) {
			out = append(out, s.hostView(h))
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getHost(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	mac, err := podmgr.NormalizeMAC(r.PathValue("mac"))
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	h, ok := s.mgr.Registry().Host(mac)
	if !ok {
		WriteError(w, http.StatusNotFound, fmt.Errorf("%w: host %s", podmgr.ErrNotFound, mac))
		return
	}
	WriteJSON(w, http.StatusOK, s.hostView(h))
}

func (s *Server) addHosts(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	hosts, ok := decodeHosts(w, r, s.limits.BulkBodyBytes)
	if !ok {
		return
	}
	out, err := s.mgr.AddHosts(r.Context(), a, hosts)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	for i := range out {
		out[i] = publicHost(out[i])
	}
	WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) deleteHost(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	if err := s.mgr.DeleteHost(r.Context(), a, r.PathValue("mac")); err != nil {
		s.WriteErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setNetboot(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var req NetbootRequest
	if !s.DecodeJSON(w, r, &req) {
		return
	}
	if req.Netboot == nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf(`request body must say {"netboot": true} or {"netboot": false}`))
		return
	}
	h, changed, err := s.mgr.SetNetboot(r.Context(), a, r.PathValue("mac"), *req.Netboot)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, NetbootResult{Host: publicHost(h), Changed: changed})
}

func (s *Server) hostEvents(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	after, limit, ok := pageOf(w, r)
	if !ok {
		return
	}
	evs, err := s.mgr.HostEventsPage(r.Context(), r.PathValue("mac"), after, limit+1)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	writePage(w, r, evs, limit)
}

// acceptHost turns a discovered host into a registered one: only then is it installed.
func (s *Server) acceptHost(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var req AcceptRequest
	if !s.DecodeJSON(w, r, &req) {
		return
	}
	h, err := s.mgr.AcceptHost(r.Context(), a, r.PathValue("mac"), req.Hostname, req.ManagementIP, req.Profile)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, publicHost(h))
}

// hostInventory returns what the host's stage1 agent reported (podmgr.Inventory); 404
// when the host has none yet.
func (s *Server) hostInventory(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	inv, ok, err := s.mgr.HostInventory(r.Context(), r.PathValue("mac"))
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	if !ok {
		WriteError(w, http.StatusNotFound, fmt.Errorf("host %s has no inventory yet: it is reported by the stage1 agent before it writes a disk", r.PathValue("mac")))
		return
	}
	WriteJSON(w, http.StatusOK, inv)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	q := r.URL.Query()
	f := podmgr.EventFilter{Kind: podmgr.EventKind(q.Get("kind")), Pod: q.Get("pod")}
	if f.Kind != "" && f.Kind != podmgr.KindAudit && f.Kind != podmgr.KindHost {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("kind %s: use audit or host", Quote(string(f.Kind))))
		return
	}
	var ok bool
	if f.After, f.Limit, ok = pageOf(w, r); !ok {
		return
	}
	f.Limit++ // one more tells whether there is a next page
	evs, err := s.mgr.Events(r.Context(), f)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	writePage(w, r, evs, f.Limit-1)
}

// ---- tokens (admin only) ----

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	WriteJSON(w, http.StatusOK, nonNil(s.mgr.Tokens()))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var req TokenRequest
	if !s.DecodeJSON(w, r, &req) {
		return
	}
	spec := podmgr.TokenSpec{Name: req.Name, Role: req.Role, Push: podmgr.PushGrant{Kinds: req.AllowKinds, Prefixes: req.AllowPrefixes}}
	secret, t, err := s.mgr.IssueToken(r.Context(), a, spec)
	if err != nil {
		s.WriteErr(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, TokenCreated{Token: t, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	// {id} is a token's ID or name; ?force=true revokes the last admin or the caller's own token.
	if err := s.mgr.RevokeToken(r.Context(), a, r.PathValue("id"), r.URL.Query().Get("force") == "true"); err != nil {
		s.WriteErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
