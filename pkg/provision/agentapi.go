package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// call is one authenticated agent request.
type call struct {
	host   podmgr.Host
	token  string
	source string
	pc     *podmgr.PodContext
	prof   podmgr.Profile
}

// agent wraps a handler with the token check: the MAC in the path, the bearer token,
// netboot on, not expired. Every refusal looks the same to the client.
func (s *Service) agent(h func(http.ResponseWriter, *http.Request, call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		src, _, _ := net.SplitHostPort(r.RemoteAddr)
		mac, err := podmgr.MACFromPath(r.PathValue("mac"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		host, err := s.mgr.CheckHostToken(mac, tok)
		if err != nil {
			s.log.Warn("agent request refused", "host", mac, "source", src, "path", r.URL.Path, "reason", err)
			http.Error(w, "provisioning token refused", http.StatusForbidden)
			return
		}
		pc, ok := s.reg.Pod(host.Pod)
		if !ok {
			http.Error(w, "pod not found", http.StatusNotFound)
			return
		}
		prof, ok := s.reg.EffectiveProfile(host)
		if !ok {
			prof = pc.Profile
		}
		h(w, r, call{host: host, token: tok, source: src, pc: pc, prof: prof})
	}
}

func (s *Service) logFor(c call) *slog.Logger {
	return s.log.With("pod", c.host.Pod, "host", c.host.MAC)
}

// record writes a host event on behalf of the agent, re-checking the token in the
// transaction.
func (s *Service) record(w http.ResponseWriter, r *http.Request, c call, action, detail string, u podmgr.HostUpdate) bool {
	if _, err := s.mgr.HostTokenEvent(r.Context(), c.host.MAC, c.token, c.source, action, detail, u, s.guards()...); err != nil {
		if errors.Is(err, podmgr.ErrHostToken) {
			http.Error(w, "provisioning token refused", http.StatusForbidden)
			return false
		}
		if errors.Is(err, podmgr.ErrNotOwner) {
			s.logFor(c).Warn("agent write fenced: the pod changed owner", "action", action, "err", err)
			writeNotOwner(w, err)
			return false
		}
		s.logFor(c).Error("record host event", "action", action, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	return true
}

func (s *Service) stage2Artifact(c call) (artifact.Artifact, error) {
	ref := c.prof.Stage2
	if ref == "" {
		return artifact.Artifact{}, fmt.Errorf("profile %s names no stage2 image", c.prof.Name)
	}
	a, ok := s.store.Resolve(ref)
	if !ok {
		return artifact.Artifact{}, fmt.Errorf("stage2 %s is not in the artifact store", ref)
	}
	if !a.Signed() {
		return artifact.Artifact{}, fmt.Errorf("stage2 %s has no signature", a.Ref())
	}
	return a, nil
}

// owned wraps the endpoints that write for the host (and the chain-load, which starts
// the agent's session): a replica that does not own the host's pod answers 503 with its
// owner's name, and the agent tries the next replica (owner.go).
func (s *Service) owned(h func(http.ResponseWriter, *http.Request, call)) func(http.ResponseWriter, *http.Request, call) {
	return func(w http.ResponseWriter, r *http.Request, c call) {
		if err := s.notOwner(c.host.Pod); err != nil {
			s.logFor(c).Info("agent request refused: not the pod's owner", "path", r.URL.Path, "err", err)
			writeNotOwner(w, err)
			return
		}
		h(w, r, c)
	}
}

// accepted wraps the install endpoints: a discovered host (not accepted by an
// operator) gets none of them, whatever the pod's profile says: no image, no
// kickstart (it holds the pod's keys and password hash), no installed call-back.
func (s *Service) accepted(h func(http.ResponseWriter, *http.Request, call)) func(http.ResponseWriter, *http.Request, call) {
	return func(w http.ResponseWriter, r *http.Request, c call) {
		if c.host.Discovered {
			s.logFor(c).Warn("install endpoint refused to a discovered host", "path", r.URL.Path, "source", c.source)
			http.Error(w, "host is discovered, not accepted: inspection only (podboot host accept)", http.StatusForbidden)
			return
		}
		h(w, r, c)
	}
}

func (s *Service) chainload(w http.ResponseWriter, r *http.Request, c call) {
	if c.host.Discovered {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(agentproto.Chainload{Inspect: true})
		return
	}
	a, err := s.stage2Artifact(c)
	if err != nil {
		s.logFor(c).Warn("chain-load refused", "err", err)
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	d := agentproto.Chainload{Ref: a.Ref(), URL: agentproto.Stage2Path, SignatureURL: agentproto.SignaturePath, Size: a.Size, SHA256: a.Digest,
		TargetDisk: c.pc.Pod.Kickstart.TargetDisk}
	if h := c.prof.RootDevice; h != nil {
		d.RootDevice = &agentproto.RootDeviceHints{Serial: h.Serial, WWN: h.WWN, Model: h.Model, MinSizeMB: h.MinSizeMB, MaxSizeMB: h.MaxSizeMB}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d)
}

func (s *Service) stage2(w http.ResponseWriter, r *http.Request, c call) {
	s.serveBlob(w, r, c, false)
}

func (s *Service) signature(w http.ResponseWriter, r *http.Request, c call) {
	s.serveBlob(w, r, c, true)
}

// serveBlob serves stage2 or its signature with http.ServeContent: Range (the agent
// resumes interrupted downloads), ETag = digest.
func (s *Service) serveBlob(w http.ResponseWriter, r *http.Request, c call, sig bool) {
	a, err := s.stage2Artifact(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	open, digest, ctype := s.store.Open, a.Digest, "application/octet-stream"
	if sig {
		open, digest, ctype = s.store.OpenSignature, a.SignatureDigest, "application/pkcs7-signature"
	}
	f, err := open(a)
	if err != nil {
		s.logFor(c).Error("open stage2", "artifact", a.Ref(), "err", err)
		http.Error(w, "stage2 unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", `"`+digest+`"`)
	http.ServeContent(w, r, "", a.CreatedAt, f)
}

func (s *Service) kickstart(w http.ResponseWriter, r *http.Request, c call) {
	a, err := s.stage2Artifact(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	body, err := s.render(c, a, "https://"+r.Host)
	if err != nil {
		s.logFor(c).Error("render kickstart", "err", err)
		http.Error(w, "kickstart does not render: see the server log", http.StatusInternalServerError)
		return
	}
	if !s.record(w, r, c, "kickstart.served", fmt.Sprintf("%d bytes for %s", len(body), a.Ref()), podmgr.HostUpdate{State: podmgr.StateInstalling}) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *Service) bashPackage(w http.ResponseWriter, r *http.Request, c call) {
	if c.prof.BashPackage == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a, ok := s.store.Resolve(c.prof.BashPackage)
	if !ok {
		http.Error(w, "bash package "+c.prof.BashPackage+" is not in the artifact store", http.StatusConflict)
		return
	}
	f, err := s.store.Open(a)
	if err != nil {
		http.Error(w, "bash package unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", a.CreatedAt, f)
}

const maxDetail = 2048

// maxAgentBody bounds an agent's JSON body (an event's detail is clipped at maxDetail).
const maxAgentBody = 16 << 10

// decode reads an agent's JSON body strictly, as the management API does.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return api.DecodeJSONLimit(w, r, v, maxAgentBody)
}

func clip(s string) string {
	if len(s) > maxDetail {
		return s[:maxDetail] + "…"
	}
	return s
}

// stateOf is the host state an agent event moves the host to ("" keeps it).
func stateOf(action string) podmgr.HostState {
	switch action {
	case agentproto.ActionBooted:
		return podmgr.StateBooting
	case agentproto.ActionVerified:
		return podmgr.StateVerified
	}
	return ""
}

func (s *Service) event(w http.ResponseWriter, r *http.Request, c call) {
	if ok, first := s.events.allow(c.host.MAC, time.Now()); !ok {
		if first {
			s.logFor(c).Warn("agent events over the rate limit: refusing until the rate drops", "per_minute", s.cfg.AgentEventsPerMinute, "source", c.source)
		}
		w.Header().Set("Retry-After", "60")
		http.Error(w, fmt.Sprintf("too many events: at most %d a minute per host", s.cfg.AgentEventsPerMinute), http.StatusTooManyRequests)
		return
	}
	var ev agentproto.Event
	if !decode(w, r, &ev) {
		return
	}
	known := false
	for _, a := range agentproto.Actions() {
		known = known || a == ev.Action
	}
	if !known {
		http.Error(w, "unknown agent action "+api.Quote(ev.Action), http.StatusBadRequest)
		return
	}
	if s.record(w, r, c, ev.Action, clip(ev.Detail), podmgr.HostUpdate{State: stateOf(ev.Action)}) {
		w.WriteHeader(http.StatusNoContent)
	}
}

// installed is the call-back that ends an install: state provisioned, netboot off on
// every path, token consumed — all in one transaction.
func (s *Service) installed(w http.ResponseWriter, r *http.Request, c call) {
	var in agentproto.Installed
	if !decode(w, r, &in) {
		return
	}
	off, empty, zero := false, "", time.Time{}
	u := podmgr.HostUpdate{State: podmgr.StateProvisioned, Netboot: &off, TokenHash: &empty, TokenExpires: &zero}
	detail := clip(fmt.Sprintf("disk=%s sha256=%s then %s; netboot off", in.Disk, in.SHA256, in.Finish))
	if s.record(w, r, c, "installed", detail, u) {
		w.WriteHeader(http.StatusNoContent)
	}
}

// failed marks the host failed with the agent's reason. Netboot stays on so the host
// can be retried after a fix; the token is consumed (the next boot gets a new one).
func (s *Service) failed(w http.ResponseWriter, r *http.Request, c call) {
	var f agentproto.Failure
	if !decode(w, r, &f) {
		return
	}
	reason := clip(f.Step + ": " + f.Reason)
	empty, zero := "", time.Time{}
	u := podmgr.HostUpdate{State: podmgr.StateFailed, Reason: reason, TokenHash: &empty, TokenExpires: &zero}
	if s.record(w, r, c, agentproto.ActionFailed, reason, u) {
		w.WriteHeader(http.StatusNoContent)
	}
}
