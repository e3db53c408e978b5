package agent

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

func TestClientFailsOverToTheNextReplica(t *testing.T) {
	var hitsB atomic.Int32
	b := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitsB.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer b.Close()
	status := func(code int) *httptest.Server {
		return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", code) }))
	}
	down := status(200)
	down.Close() // nothing listens any more
	unavailable, notFound := status(http.StatusServiceUnavailable), status(http.StatusNotFound)
	defer unavailable.Close()
	defer notFound.Close()
	roots := x509.NewCertPool()
	roots.AddCert(b.Certificate()) // every httptest server has the same certificate
	for _, tc := range []struct {
		name     string
		first    *httptest.Server
		switches bool
	}{
		{"server gone", down, true},
		{"server answers 503", unavailable, true},
		{"server answers 404", notFound, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hitsB.Store(0)
			first, _ := url.Parse(tc.first.URL)
			second, _ := url.Parse(b.URL)
			c := NewClient(Params{Server: first, Fallback: []*url.URL{second}, MAC: "52:54:00:00:00:01", Token: "tok"}, roots, slog.New(slog.DiscardHandler))
			var out struct{ OK bool }
			err := c.GetJSON(context.Background(), "state", &out)
			if tc.switches != (err == nil && out.OK) {
				t.Fatalf("GetJSON = %v (ok %v), want switched %v", err, out.OK, tc.switches)
			}
			if !tc.switches {
				return
			}
			// The replica that answered stays in use; an absolute URL on the first
			// server is moved to it.
			if err := c.GetJSON(context.Background(), tc.first.URL+"/agent/x", &out); err != nil {
				t.Fatalf("second call: %v", err)
			}
			if hitsB.Load() != 2 {
				t.Fatalf("second replica served %d requests, want 2", hitsB.Load())
			}
			if _, err := c.URL("https://203.0.113.9:8443/x"); err == nil {
				t.Fatal("a URL on a server the host was not given was accepted")
			}
		})
	}
}

// TestGetRetriesACutConnection: a GET whose connection the only server cuts (a busy
// server in a boot storm) is tried again after a pause and succeeds; a POST is not.
func TestGetRetriesACutConnection(t *testing.T) {
	var cuts atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cuts.Add(1) <= 2 { // the first two requests: the connection is dropped
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	u, _ := url.Parse(srv.URL)
	c := NewClient(Params{Server: u, MAC: "52:54:00:00:00:01", Token: "tok"}, roots, slog.New(slog.DiscardHandler))
	c.retryWait = time.Millisecond
	var out struct{ OK bool }
	if err := c.GetJSON(context.Background(), "state", &out); err != nil || !out.OK {
		t.Fatalf("GetJSON after two cut connections = %v (ok %v), want the third answer", err, out.OK)
	}
	cuts.Store(0)
	if err := c.Post(context.Background(), "events", map[string]string{"a": "b"}); err == nil {
		t.Fatal("a POST whose connection was cut succeeded: it must not be retried blindly")
	}
}

// TestReportRidesOutAFailover: while a pod has no owner every replica answers 503; an
// event reported then arrives once one answers again (here after 3 refusals, 6 s).
func TestReportRidesOutAFailover(t *testing.T) {
	var posts, got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) <= 3 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "replica r2 does not own pod p; owner is not settled yet", http.StatusServiceUnavailable)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	u, _ := url.Parse(srv.URL)
	c := NewClient(Params{Server: u, MAC: "52:54:00:00:00:01", Token: "tok"}, roots, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Report(ctx, "verified", "ok")
	if got.Load() != 1 || posts.Load() != 4 {
		t.Fatalf("event delivered %d times after %d posts, want once after 4", got.Load(), posts.Load())
	}
}
