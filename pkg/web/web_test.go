package web

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestLogin: the form takes a reading token into a Secure, HttpOnly, SameSite=Strict
// __Host- cookie and sends the browser on (inside /ui/ only); a wrong token, a ci token
// and a form posted from another origin set no cookie.
func TestLogin(t *testing.T) {
	f := newFleet(t, 1, 1, 0, 0)
	ci, _, err := f.mgr.CreateToken(context.Background(), admin, "pipeline", podmgr.RoleCI)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, origin, next string
		status                    int
		location                  string
	}{
		{"viewer", f.viewer, "https://podboot.test", "/ui/pods/pod-00000", http.StatusSeeOther, "/ui/pods/pod-00000"},
		{"viewer, next outside the UI", f.viewer, "", "https://evil.example/", http.StatusSeeOther, "/ui/"},
		{"viewer, next scheme-relative", f.viewer, "", "//evil.example/ui/", http.StatusSeeOther, "/ui/"},
		{"wrong token", "pbt_wrong", "", "", http.StatusUnauthorized, ""},
		{"ci token", ci, "", "", http.StatusForbidden, ""},
		{"cross-origin", f.viewer, "https://evil.example", "", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"token": {tc.token}, "next": {tc.next}}
			req := httptest.NewRequest("POST", "https://podboot.test/ui/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			f.ui.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
				t.Fatalf("HTTP %d to %q, want %d to %q", rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
			}
			cookies := rec.Result().Cookies()
			if tc.status != http.StatusSeeOther {
				if len(cookies) != 0 {
					t.Fatalf("refused login set cookies %v", cookies)
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("cookies %v, want one", cookies)
			}
			c := cookies[0]
			if c.Name != CookieName || c.Value != tc.token || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge <= 0 {
				t.Fatalf("cookie %+v: want the token, Secure, HttpOnly, SameSite=Strict, Path=/, a max age", c)
			}
		})
	}
}

// TestPagesNeedASession: without a cookie, with a revoked token's cookie, or with a ci
// token's, pages send the browser to the login form and the stream answers 401; every
// answer carries the security headers.
func TestPagesNeedASession(t *testing.T) {
	f := newFleet(t, 1, 1, 0, 0)
	ctx := context.Background()
	revoked, _, err := f.mgr.CreateToken(ctx, admin, "gone", podmgr.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.mgr.RevokeToken(ctx, admin, "gone", false); err != nil {
		t.Fatal(err)
	}
	ci, _, err := f.mgr.CreateToken(ctx, admin, "pipeline", podmgr.RoleCI)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"", revoked, ci} {
		for _, path := range []string{"/ui/", "/ui/pods/pod-00000", "/ui/hosts/02:00:00:00:00:00"} {
			rec := f.get(t, path, secret)
			if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login?next=") {
				t.Fatalf("%s without a valid session: HTTP %d to %q, want the login form", path, rec.Code, rec.Header().Get("Location"))
			}
			if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: security headers missing: %v", path, rec.Header())
			}
		}
		if rec := f.get(t, "/ui/hosts/02:00:00:00:00:00/stream", secret); rec.Code != http.StatusUnauthorized {
			t.Fatalf("stream without a valid session: HTTP %d, want 401", rec.Code)
		}
	}
}

// TestPagesArePaged: the fleet and a pod show one page of rows with links to the next,
// filter by name, state and text, and never all rows.
func TestPagesArePaged(t *testing.T) {
	f := newFleet(t, 120, 3, 250, 0)
	for _, tc := range []struct {
		path      string
		want      []string
		notWant   []string
		rowsTable string
		rows      int
	}{
		{"/ui/", []string{"big", "pod-00048", "pods 1–50 of 121", `href="?page=2"`}, []string{"pod-00049"}, "pods", podsPerPage},
		{"/ui/?page=3", []string{"pod-00099", "pod-00119", "pods 101–121 of 121", `rel="prev"`}, []string{`rel="next"`, "pod-00098"}, "pods", 21},
		{"/ui/?q=pod-0011", []string{"pod-00110", "pod-00119", "of 10"}, []string{"pod-00100"}, "pods", 10},
		{"/ui/pods/big", []string{"hosts 1–100 of 250", "big", "failing"}, nil, "hosts", hostsPerPage},
		{"/ui/pods/big?page=3", []string{"hosts 201–250 of 250"}, nil, "hosts", 50},
		{"/ui/pods/big?page=99", []string{"hosts 201–250 of 250"}, nil, "hosts", 50},
		{"/ui/pods/big?state=failed", []string{"hosts 1–25 of 25", "signature does not verify"}, nil, "hosts", 25},
		{"/ui/pods/big?q=n65535-000249", []string{"hosts 1–1 of 1", "02:ff:ff:00:00:f9"}, nil, "hosts", 1},
	} {
		rec := f.get(t, tc.path, f.viewer)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", tc.path, rec.Code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", tc.path, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(body, w) {
				t.Errorf("%s: page has %q", tc.path, w)
			}
		}
		if n := tableRows(body, tc.rowsTable); n != tc.rows {
			t.Errorf("%s: %d rows in #%s, want %d", tc.path, n, tc.rowsTable, tc.rows)
		}
	}
}

// tableRows counts the body rows of the table with id.
func tableRows(body, id string) int {
	i := strings.Index(body, `<table id="`+id+`">`)
	if i < 0 {
		return -1
	}
	body = body[i:]
	body = body[strings.Index(body, "<tbody>"):strings.Index(body, "</tbody>")]
	return strings.Count(body, "<tr")
}

// TestStreamSendsNewEvents: the host stream sends the events after ?after with their
// sequence as id and the host's state after each, first those already stored, then one
// recorded while it is open.
func TestStreamSendsNewEvents(t *testing.T) {
	f := newFleet(t, 1, 1, 0, 0)
	const mac = "02:00:00:00:00:00"
	ctx := context.Background()
	if _, err := f.mgr.RecordHostEvent(ctx, mac, "192.0.2.9", "dhcp.offer", "first", podmgr.HostUpdate{State: podmgr.StateOffered}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(f.ui.Handler())
	defer srv.Close()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", srv.URL+"/ui/hosts/"+mac+"/stream?after=0", nil)
	req.AddCookie(&http.Cookie{Name: CookieName, Value: f.viewer})
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("stream: HTTP %d %s", resp.StatusCode, ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func(want string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "data: ") && strings.Contains(l, want) {
				return l
			}
		}
		t.Fatalf("stream ended before an event with %q: %v", want, lines.Err())
		return ""
	}
	if l := next(`"action":"dhcp.offer"`); !strings.Contains(l, `"hostState":"offered"`) {
		t.Fatalf("stored event: %s", l)
	}
	if _, err := f.mgr.RecordHostEvent(ctx, mac, "192.0.2.9", "http.script", "second", podmgr.HostUpdate{State: podmgr.StateBooting}); err != nil {
		t.Fatal(err)
	}
	if l := next(`"action":"http.script"`); !strings.Contains(l, `"hostState":"booting"`) {
		t.Fatalf("live event: %s", l)
	}
}
