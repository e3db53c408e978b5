// Package api is podboot's management API: JSON over HTTPS under /api/v1, bearer tokens
// with roles. It is the only way the CLI and CI change anything, so every change is
// authorised here and audited by the podmgr.Manager it calls.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Route is one endpoint. Allow lists the roles that may call it; admin may call all.
type Route struct {
	Method  string
	Path    string // net/http pattern path, e.g. /api/v1/pods/{name}
	Allow   []podmgr.Role
	Handler func(w http.ResponseWriter, r *http.Request, a podmgr.Actor)
}

// Role sets used by the routes.
var (
	readers  = []podmgr.Role{podmgr.RoleOperator, podmgr.RoleViewer}
	changers = []podmgr.Role{podmgr.RoleOperator}
)

// Readers are the roles that may read pods, profiles, hosts and events.
func Readers() []podmgr.Role { return slices.Clone(readers) }

// Changers are the roles that may change pods, profiles and hosts.
func Changers() []podmgr.Role { return slices.Clone(changers) }

// Server serves the management API.
type Server struct {
	mgr *podmgr.Manager
	log *slog.Logger
	mux *http.ServeMux
	// MaxBodyBytes bounds JSON request bodies (uploads mount their own routes).
	MaxBodyBytes int64
	version      string
}

// New returns the API with its core routes mounted.
func New(mgr *podmgr.Manager, log *slog.Logger, version string) *Server {
	s := &Server{mgr: mgr, log: log, mux: http.NewServeMux(), MaxBodyBytes: 256 << 20, version: version}
	s.Mount(s.coreRoutes()...)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// Handler is the HTTP handler to serve.
func (s *Server) Handler() http.Handler { return s.mux }

// Mount adds routes; other packages (images, boot) mount theirs the same way.
func (s *Server) Mount(routes ...Route) {
	for _, rt := range routes {
		rt := rt
		s.mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			a, ok := s.authenticate(w, r)
			if !ok {
				return
			}
			if a.Role != podmgr.RoleAdmin && !slices.Contains(rt.Allow, a.Role) {
				WriteError(w, http.StatusForbidden, fmt.Errorf("%s has role %s, which may not %s %s", a.Name, a.Role, r.Method, r.URL.Path))
				return
			}
			rt.Handler(w, r, a)
		})
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (podmgr.Actor, bool) {
	auth := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="podboot"`)
		WriteError(w, http.StatusUnauthorized, errors.New("missing bearer token: pass --token, set PODBOOT_TOKEN, or use the client config written at first start"))
		return podmgr.Actor{}, false
	}
	t, ok := s.mgr.Authenticate(secret)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="podboot", error="invalid_token"`)
		WriteError(w, http.StatusUnauthorized, errors.New("token is not valid (unknown or revoked)"))
		return podmgr.Actor{}, false
	}
	return podmgr.Actor{Name: "token:" + t.Name, Role: t.Role, Source: r.RemoteAddr}, true
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, ErrorBody{Error: err.Error()})
}

// StatusOf maps podmgr's error kinds to HTTP status codes.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, podmgr.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, podmgr.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, podmgr.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, podmgr.ErrStoreUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteErr writes err with the status StatusOf picks; server errors are logged and
// answered without internals.
func (s *Server) WriteErr(w http.ResponseWriter, r *http.Request, err error) {
	st := StatusOf(err)
	if st == http.StatusInternalServerError {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteError(w, st, err)
}

// DecodeJSON reads a JSON body into v, refusing unknown fields and oversized bodies.
func (s *Server) DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", mbe.Limit))
			return false
		}
		WriteError(w, http.StatusBadRequest, fmt.Errorf("request body is not valid JSON for this endpoint: %v", err))
		return false
	}
	return true
}
