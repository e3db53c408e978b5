package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// The dashboard takes the management API's tokens. The login form's token goes into a
// cookie that scripts cannot read (HttpOnly), that travels only over HTTPS (Secure; the
// management listener is HTTPS only) and only with requests from podboot's own pages
// (SameSite=Strict), bound to this host (the __Host- prefix). Every request checks the
// token again, so a revoked token logs its browsers out at once. The cookie
// authenticates nothing but /ui/ GETs: the API reads only the Authorization header.
//
// CSRF: no dashboard request changes anything; the only POSTs are log in and log out,
// refused when the browser says they come from another origin.

// CookieName is the dashboard's session cookie.
const CookieName = "__Host-podboot-ui"

// sessionTTL is how long the browser keeps the cookie.
const sessionTTL = 12 * time.Hour

// uiRoles may use the dashboard: the roles that may read pods and hosts.
var uiRoles = []podmgr.Role{podmgr.RoleAdmin, podmgr.RoleOperator, podmgr.RoleViewer}

type viewerKey struct{}

// viewerOf is the name of the token a request came with.
func viewerOf(ctx context.Context) string {
	s, _ := ctx.Value(viewerKey{}).(string)
	return s
}

// reader wraps a page: without a valid cookie of a reading role, a browser is sent to the
// login form (a stream gets 401).
func (u *UI) reader(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := u.session(r)
		if !ok {
			if strings.HasSuffix(r.URL.Path, "/stream") {
				http.Error(w, "log in again", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, t.Name)))
	}
}

func (u *UI) session(r *http.Request) (podmgr.Token, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return podmgr.Token{}, false
	}
	t, ok := u.mgr.Authenticate(c.Value)
	if !ok || !slices.Contains(uiRoles, t.Role) {
		return podmgr.Token{}, false
	}
	return t, true
}

type loginPage struct {
	Error, Next string
	Viewer      string
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	u.render(w, http.StatusOK, "login", loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

// login checks the form's token and sets the cookie.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		u.log.Warn("web login refused", "reason", "cross-origin", "origin", r.Header.Get("Origin"), "source", remoteHost(r.RemoteAddr))
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "login", loginPage{Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	src := remoteHost(r.RemoteAddr)
	t, ok := u.mgr.Authenticate(secret)
	switch {
	case !ok:
		u.log.Warn("web login refused", "reason", "invalid token", "source", src)
		u.render(w, http.StatusUnauthorized, "login", loginPage{Error: "That token is not valid (unknown or revoked).", Next: next})
		return
	case !slices.Contains(uiRoles, t.Role):
		u.log.Warn("web login refused", "reason", "role", "token", t.Name, "role", t.Role, "source", src)
		u.render(w, http.StatusForbidden, "login", loginPage{Error: "A " + string(t.Role) + " token may not read the fleet: use a viewer token.", Next: next})
		return
	}
	u.log.Info("web login", "token", t.Name, "role", t.Role, "source", src)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", MaxAge: int(sessionTTL / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin logout refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// sameOrigin refuses a form posted from another site: browsers send Origin with POSTs
// (and Sec-Fetch-Site); a request without either is not a browser's cross-site one.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}

// safeNext keeps a redirect after login inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// remoteHost is the client's address without its port, as the API's audit names it.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
