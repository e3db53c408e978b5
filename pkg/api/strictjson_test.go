package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

func TestStrictUnmarshal(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string // "" means accepted
	}{
		{"valid", `{"name":"p","match":[{"giaddr":"192.0.2.1"}]}`, ""},
		{"trailing object", `{"name":"p"}{"name":"q"}`, "data after the JSON value"},
		{"trailing garbage", `{"name":"p"} x`, "data after the JSON value"},
		{"trailing space is fine", "{\"name\":\"p\"}\n  ", ""},
		{"duplicate key", `{"name":"p","name":"q"}`, `key "name" appears twice`},
		{"duplicate nested key", `{"name":"p","match":[{"giaddr":"192.0.2.1","giaddr":"192.0.2.2"}]}`, `"match[0].giaddr" appears twice`},
		{"key in another case", `{"Name":"p"}`, `case-sensitive, did you mean "name"`},
		{"nested key in another case", `{"name":"p","subnets":[{"CIDR":"192.0.2.0/24"}]}`, `did you mean "cidr"`},
		{"unknown field", `{"name":"p","colour":"red"}`, "unknown field"},
		{"malformed", `{"name":`, "unexpected EOF"},
		{"two keys differing in case", `{"name":"p","NAME":"q"}`, "case-sensitive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p podmgr.Pod
			err := StrictUnmarshal([]byte(tt.in), &p)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

func TestQuoteBoundsInput(t *testing.T) {
	long := strings.Repeat("é", 100)
	q := Quote(long)
	if len(q) > maxQuote+8 || !strings.HasSuffix(q, "…") {
		t.Fatalf("Quote of %d bytes gave %d bytes: %s", len(long), len(q), q)
	}
	if got := Quote("short"); got != `"short"` {
		t.Fatalf("Quote(short) = %s", got)
	}
}

func TestClipQuoted(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct{ in, want string }{
		{`pod "short" not found`, `pod "short" not found`},
		{`name "` + long + `" is bad`, `name "` + long[:maxQuote] + `"… is bad`},
		{`a "` + long + `" and "` + long + `"`, `a "` + long[:maxQuote] + `"… and "` + long[:maxQuote] + `"…`},
		{`escaped "\"` + long + `"`, `escaped "\"` + long[:maxQuote-2] + `"…`},
		{`unbalanced "` + long, `unbalanced "` + long},
		{`no quotes`, `no quotes`},
	}
	for _, tt := range tests {
		if got := clipQuoted(tt.in); got != tt.want {
			t.Errorf("clipQuoted(%.40q…) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBodyLimitsAndEcho: a body over the limit is 413; an error never echoes a long
// value back.
func TestBodyLimitsAndEcho(t *testing.T) {
	f := newFixture(t)
	f.api.SetLimits(Limits{MaxBodyBytes: 4 << 10})
	big := strings.Repeat("x", 100<<10)
	code, body := f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/pods", fmt.Sprintf(`{"name":%q}`, big))
	if code != 413 {
		t.Fatalf("100 KiB body: %d %s, want 413", code, body)
	}
	code, body = f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/pods", fmt.Sprintf(`{%q:1}`, big[:3000]))
	if code != 400 || len(body) > 2*maxErrorText {
		t.Fatalf("long unknown key: %d, answer of %d bytes", code, len(body))
	}
	code, body = f.do(t, podmgr.RoleAdmin, "GET", "/api/v1/events?kind="+big[:3000], nil)
	if code != 400 || len(body) > 300 {
		t.Fatalf("long kind: %d, answer of %d bytes", code, len(body))
	}
}

// TestEventPagesThroughAPI: without a limit at most DefaultPageSize come back with a
// cursor; following the cursors reads every event once.
func TestEventPagesThroughAPI(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	for i := range 250 {
		if _, err := f.mgr.RecordHostEvent(t.Context(), "52:54:00:00:00:01", "test", fmt.Sprint("step-", i), "", podmgr.HostUpdate{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := NewClient(ClientConfig{Server: "https://unused", Token: f.tokens[podmgr.RoleViewer]})
	if err != nil {
		t.Fatal(err)
	}
	c.base = f.srv.URL
	for _, path := range []string{"/api/v1/events", "/api/v1/events?kind=host", "/api/v1/hosts/52:54:00:00:00:01/events"} {
		var pages, n int
		last := uint64(0)
		err := c.EventPages(t.Context(), path, func(page []podmgr.Event) error {
			pages++
			if len(page) > DefaultPageSize {
				t.Errorf("%s: page of %d", path, len(page))
			}
			for _, e := range page {
				if e.Seq <= last {
					t.Errorf("%s: seq %d after %d", path, e.Seq, last)
				}
				last = e.Seq
			}
			n += len(page)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 251 || pages < 3 {
			t.Errorf("%s: %d events in %d pages, want all (>= 251) in >= 3", path, n, pages)
		}
	}
	code, _ := f.do(t, podmgr.RoleViewer, "GET", "/api/v1/events?limit=1001", nil)
	if code != 400 {
		t.Errorf("limit over the maximum: %d, want 400", code)
	}
}
