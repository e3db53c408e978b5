// Package api is podboot's management API: JSON over HTTPS under /api/v1, bearer tokens
// with roles. It is the only way the CLI and CI change anything, so every change is
// authorised here and audited by the podmgr.Manager it calls.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// Defaults of the request limits (see Limits).
const (
	DefaultMaxBodyBytes  int64 = 1 << 20
	DefaultBulkBodyBytes int64 = 32 << 20
	DefaultBodyTimeout         = 30 * time.Second
)

// Limits bound what one request may send.
type Limits struct {
	// MaxBodyBytes bounds a JSON request body (uploads mount their own routes).
	MaxBodyBytes int64
	// BulkBodyBytes bounds the bulk host import (POST /api/v1/hosts).
	BulkBodyBytes int64
	// BodyTimeout is how long a request may take to send its body; a streaming upload
	// instead must bring StreamChunk bytes every BodyTimeout (see StreamBody).
	BodyTimeout time.Duration
}

// Server serves the management API.
type Server struct {
	mgr     *podmgr.Manager
	log     *slog.Logger
	mux     *http.ServeMux
	limits  Limits
	refused *refusals
	// leaseIP, when set (SetLeaseLookup), gives host reads their leased address.
	leaseIP LeaseLookup
	// artifactExists, when set (SetArtifactLookup), checks a saved profile's artifacts.
	artifactExists ArtifactLookup
	version        string
}

// New returns the API with its core routes mounted.
func New(mgr *podmgr.Manager, log *slog.Logger, version string) *Server {
	s := &Server{mgr: mgr, log: log, mux: http.NewServeMux(), version: version,
		limits:  Limits{MaxBodyBytes: DefaultMaxBodyBytes, BulkBodyBytes: DefaultBulkBodyBytes, BodyTimeout: DefaultBodyTimeout},
		refused: newRefusals(log)}
	s.Mount(s.coreRoutes()...)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, Quote(r.URL.Path)))
	})
	return s
}

// SetLimits replaces the request limits; zero fields keep their defaults.
func (s *Server) SetLimits(l Limits) {
	if l.MaxBodyBytes > 0 {
		s.limits.MaxBodyBytes = l.MaxBodyBytes
	}
	if l.BulkBodyBytes > 0 {
		s.limits.BulkBodyBytes = l.BulkBodyBytes
	}
	if l.BodyTimeout > 0 {
		s.limits.BodyTimeout = l.BodyTimeout
	}
}

// Collectors are the API's metrics, for the server's Prometheus registry.
func (s *Server) Collectors() []prometheus.Collector { return []prometheus.Collector{s.refused.count} }

// Handler is the HTTP handler to serve (with BoundBodies).
func (s *Server) Handler() http.Handler { return s.BoundBodies(s.mux) }

// BoundBodies wraps h so that a request with a body must send it within the body
// timeout: the read deadline is set before h runs, whether h reads the body or not (net/http
// reads an unread body after the handler to reuse the connection). The server wraps its
// whole listener's handler (metrics and health included) with it.
func (s *Server) BoundBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.limits.BodyTimeout))
			r = r.WithContext(context.WithValue(r.Context(), bodyTimeoutKey{}, s.limits.BodyTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// Mount adds routes; other packages (images, boot) mount theirs the same way. The
// caller is authenticated and authorised before the route reads any of the body.
func (s *Server) Mount(routes ...Route) {
	for _, rt := range routes {
		rt := rt
		pattern := rt.Method + " " + rt.Path
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			a, ok := s.authenticate(w, r, pattern)
			if !ok {
				return
			}
			if a.Role != podmgr.RoleAdmin && !slices.Contains(rt.Allow, a.Role) {
				s.refuse(w, r, pattern, reasonRole, a.Name, http.StatusForbidden,
					fmt.Errorf("%s has role %s, which may not %s %s", a.Name, a.Role, r.Method, rt.Path))
				return
			}
			rt.Handler(w, r, a)
		})
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, pattern string) (podmgr.Actor, bool) {
	auth := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="podboot"`)
		s.refuse(w, r, pattern, reasonMissing, "", http.StatusUnauthorized,
			errors.New("missing bearer token: pass --token, set PODBOOT_TOKEN, or use the client config written at first start"))
		return podmgr.Actor{}, false
	}
	t, ok := s.mgr.Authenticate(secret)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="podboot", error="invalid_token"`)
		s.refuse(w, r, pattern, reasonInvalid, "", http.StatusUnauthorized, errors.New("token is not valid (unknown or revoked)"))
		return podmgr.Actor{}, false
	}
	return t.Actor(remoteHost(r.RemoteAddr)), true
}

// remoteHost is the client's address without its (ephemeral) port: what audit records
// and host events name as the source of an API action.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// refuse answers a 401 or 403, counts and logs it, and closes the connection: a client
// that is refused gets no second request on it, and its unread body is not waited for.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, pattern string, reason refusalReason, actor string, status int, err error) {
	s.refused.record(r, pattern, reason, actor)
	w.Header().Set("Connection", "close")
	WriteError(w, status, err)
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

// maxErrorText bounds an error answer: messages quote input through Quote, quoted runs
// are cut (clipQuoted), and this cut is the backstop for input that is not quoted.
const maxErrorText = 1024

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	msg := clipQuoted(err.Error())
	if len(msg) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	WriteJSON(w, status, ErrorBody{Error: msg})
}

// StatusOf maps podmgr's error kinds to HTTP status codes; a write that failed for a
// full disk is 507 Insufficient Storage, as the image push answers.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, podmgr.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, podmgr.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, podmgr.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, syscall.ENOSPC):
		return http.StatusInsufficientStorage
	case errors.Is(err, podmgr.ErrStoreUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteErr writes err with the status StatusOf picks. A server error is logged with a
// request id and answered with that id only: no path, no Go error text.
func (s *Server) WriteErr(w http.ResponseWriter, r *http.Request, err error) {
	WriteServerErr(w, r, s.log, err)
}

// WriteServerErr is WriteErr for routes other packages mount.
func WriteServerErr(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	st := StatusOf(err)
	if st < 500 {
		WriteError(w, st, err)
		return
	}
	id := requestID()
	log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "status", st, "request_id", id, "err", err)
	msg := "internal error"
	if st == http.StatusInsufficientStorage {
		msg = "the server's disk is full: nothing was changed; free space on the data dir and retry"
	}
	WriteError(w, st, fmt.Errorf("%s (request id %s; the server log has the details)", msg, id))
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DecodeJSON reads a JSON body of at most the body limit into v, strictly (see
// StrictUnmarshal).
func (s *Server) DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return DecodeJSONLimit(w, r, v, s.limits.MaxBodyBytes)
}

// DecodeJSONLimit is DecodeJSON with its own size limit. The body is read whole (it is
// small), then the read deadline the handler set is lifted: the request has arrived.
func DecodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is larger than %d bytes", mbe.Limit))
			return false
		}
		w.Header().Set("Connection", "close")
		WriteError(w, http.StatusRequestTimeout, errors.New("request body did not arrive in time"))
		return false
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	if err := StrictUnmarshal(b, v); err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("request body is not valid JSON for this endpoint: %v", err))
		return false
	}
	return true
}
