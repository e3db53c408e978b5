// Package web is podboot's read-only dashboard, served by `podboot serve` under /ui/ on
// the management listener: the fleet (every pod with its hosts by state and its
// health), a pod (relays, failures, its hosts paged and searched) and a host (its
// timeline, growing live over server-sent events). Pages are rendered on the server
// with html/template from files embedded in the binary, with one small script for the
// live timeline: no build step, nothing fetched from elsewhere.
//
// It reads only the in-memory registry and the event store, and never every host at
// once: a page costs the rows it shows (plus sorting one pod's MACs), so it stays fast
// at thousands of pods and a million hosts. It changes nothing, so the only forms are
// log in and log out (auth.go).
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// UI serves the dashboard.
type UI struct {
	mgr *podmgr.Manager
	// fleet, when set, gives pod status (relays heard, failures by stage, stage
	// latencies) and host provision timelines.
	fleet *fleet.Service
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
	// poll is how often a live timeline looks at the event store even without a local
	// event: events another replica records reach this one's store, not its subscribers.
	poll time.Duration
}

// New returns the dashboard reading from mgr and, when fl is not nil, the fleet view.
func New(mgr *podmgr.Manager, fl *fleet.Service, log *slog.Logger) *UI {
	u := &UI{mgr: mgr, fleet: fl, log: log, pages: parsePages(), mux: http.NewServeMux(), poll: 2 * time.Second}
	static, _ := fs.Sub(staticFiles, "static")
	u.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	u.mux.HandleFunc("GET /ui/login", u.loginForm)
	u.mux.HandleFunc("POST /ui/login", u.login)
	u.mux.HandleFunc("POST /ui/logout", u.logout)
	u.mux.HandleFunc("GET /ui/{$}", u.reader(u.fleetPage))
	u.mux.HandleFunc("GET /ui/find", u.reader(u.find))
	u.mux.HandleFunc("GET /ui/pods/{name}", u.reader(u.pod))
	u.mux.HandleFunc("GET /ui/pods/{name}/status", u.reader(u.podStatus))
	u.mux.HandleFunc("GET /ui/hosts/{mac}", u.reader(u.host))
	u.mux.HandleFunc("GET /ui/hosts/{mac}/stream", u.reader(u.stream))
	u.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "Not found", Message: "No such page: " + r.URL.Path})
	})
	return u
}

// Handler serves /ui/ with the dashboard's security headers.
func (u *UI) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // no-referrer would make form posts say Origin: null
		h.Set("Cache-Control", "no-store")
		u.mux.ServeHTTP(w, r)
	})
}

func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"login", "fleet", "pod", "status", "host", "error"} {
		pages[name] = template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// render writes page name with data; a template error is logged (the page is ours, so
// it is a bug) and answered with a plain 500.
func (u *UI) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.pages[name].ExecuteTemplate(w, "page", data); err != nil {
		u.log.Error("render web page", "page", name, "err", err)
		fmt.Fprint(w, "\n<p>internal error: the server log has the details</p>")
	}
}

type errorPage struct {
	Title, Message string
	Viewer         string
}
