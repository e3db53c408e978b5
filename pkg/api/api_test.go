package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

type fixture struct {
	srv    *httptest.Server
	api    *Server
	mgr    *podmgr.Manager
	tokens map[podmgr.Role]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := podmgr.Open(context.Background(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{api: New(mgr, log, "test"), mgr: mgr, tokens: map[podmgr.Role]string{}}
	for _, r := range []podmgr.Role{podmgr.RoleAdmin, podmgr.RoleOperator, podmgr.RoleCI, podmgr.RoleViewer} {
		secret, _, err := mgr.CreateToken(context.Background(), podmgr.Actor{Name: "test"}, string(r)+"-tok", r)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[r] = secret
	}
	f.srv = httptest.NewServer(f.api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, role podmgr.Role, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[role])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
			t.Fatalf("%s %s: error answer is not JSON with a message: %s", method, path, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (f *fixture) seed(t *testing.T) {
	t.Helper()
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/profiles/default", `{"name":"default"}`},
		{"PUT", "/api/v1/pods/pod-a", `{"name":"pod-a","match":[{"giaddr":"192.0.2.1"}],"subnets":[{"cidr":"192.0.2.0/24","gateway":"192.0.2.1"}],"serverAddress":"198.51.100.10","profile":"default"}`},
		{"POST", "/api/v1/hosts", `{"hosts":[{"mac":"52:54:00:00:00:01","pod":"pod-a","provisioningIp":"192.0.2.10"}]}`},
	} {
		if code, body := f.do(t, podmgr.RoleAdmin, req.method, req.path, req.body); code >= 300 {
			t.Fatalf("seed %s %s: %d %s", req.method, req.path, code, body)
		}
	}
}

func podJSON(mod string) string {
	base := `{"name":"pod-x","match":[{"giaddr":"198.51.100.1"}],"subnets":[{"cidr":"198.51.100.0/24","gateway":"198.51.100.1","rangeStart":"198.51.100.100","rangeEnd":"198.51.100.200"}],"serverAddress":"198.51.100.10","profile":"default"}`
	var m map[string]any
	_ = json.Unmarshal([]byte(base), &m)
	var patch map[string]any
	_ = json.Unmarshal([]byte(mod), &patch)
	for k, v := range patch {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestValidationThroughAPI(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	cases := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"malformed MAC", "POST", "/api/v1/hosts", `{"hosts":[{"mac":"52:54:00:00:00","pod":"pod-a"}]}`, 400, "MAC address"},
		{"malformed CIDR", "POST", "/api/v1/pods", podJSON(`{"subnets":[{"cidr":"198.51.100.0/33"}]}`), 400, "not an IPv4 CIDR"},
		{"malformed address", "POST", "/api/v1/pods", podJSON(`{"serverAddress":"198.51.100"}`), 400, "not an IPv4 address"},
		{"gateway outside subnet", "POST", "/api/v1/pods", podJSON(`{"subnets":[{"cidr":"198.51.100.0/24","gateway":"192.0.2.1"}]}`), 400, "outside the subnet"},
		{"range outside subnet", "POST", "/api/v1/pods", podJSON(`{"subnets":[{"cidr":"198.51.100.0/24","rangeStart":"198.51.100.10","rangeEnd":"203.0.113.9"}]}`), 400, "outside the subnet"},
		{"MAC registered in any pod", "POST", "/api/v1/hosts", `{"hosts":[{"mac":"52-54-00-00-00-01","pod":"pod-a"}]}`, 409, "already registered"},
		{"indistinguishable pods", "POST", "/api/v1/pods", podJSON(`{"match":[{"giaddr":"192.0.2.1"}]}`), 409, "could not be told apart"},
		{"delete pod with hosts", "DELETE", "/api/v1/pods/pod-a", "", 409, "--force"},
		{"unknown profile on pod", "POST", "/api/v1/pods", podJSON(`{"profile":"nope"}`), 400, "does not exist"},
		{"unknown profile on host", "POST", "/api/v1/hosts", `{"hosts":[{"mac":"52:54:00:00:00:02","pod":"pod-a","profile":"nope"}]}`, 400, "does not exist"},
		{"unknown field", "POST", "/api/v1/pods", `{"name":"pod-x","colour":"red"}`, 400, "unknown field"},
		{"not JSON", "POST", "/api/v1/pods", `{`, 400, "not valid JSON"},
		{"existing pod on create", "POST", "/api/v1/pods", strings.Replace(podJSON(`{}`), "pod-x", "pod-a", 1), 409, "already exists"},
		{"name mismatch on apply", "PUT", "/api/v1/pods/pod-y", podJSON(`{}`), 400, "differs"},
		{"missing pod", "GET", "/api/v1/pods/nope", "", 404, "not found"},
		{"missing host", "DELETE", "/api/v1/hosts/52:54:00:00:00:99", "", 404, "not found"},
		{"netboot without a value", "PUT", "/api/v1/hosts/52:54:00:00:00:01/netboot", `{}`, 400, "request body must say"},
		{"netboot not a bool", "PUT", "/api/v1/hosts/52:54:00:00:00:01/netboot", `{"netboot":"off"}`, 400, "not valid JSON"},
		{"netboot of a missing host", "PUT", "/api/v1/hosts/52:54:00:00:00:99/netboot", `{"netboot":false}`, 404, "not found: host 52:54:00:00:00:99"},
		{"netboot of a malformed MAC", "PUT", "/api/v1/hosts/52:54:00/netboot", `{"netboot":false}`, 400, "MAC address"},
		{"bad kind", "GET", "/api/v1/events?kind=foo", "", 400, "audit or host"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", 404, "no such endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.do(t, podmgr.RoleAdmin, tc.method, tc.path, tc.body)
			if code != tc.want || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d containing %q", code, body, tc.want, tc.msg)
			}
		})
	}
	if n := len(f.mgr.Pods()); n != 1 {
		t.Fatalf("refused requests left %d pods", n)
	}
	// The same CIDR and giaddr are fine when a circuit-id tells the pods apart.
	if code, body := f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/pods", podJSON(`{"match":[{"giaddr":"192.0.2.1","circuitId":"rack-9"}],"subnets":[{"cidr":"192.0.2.0/24"}]}`)); code != 201 {
		t.Fatalf("distinguishable pod refused: %d %s", code, body)
	}
	if code, _ := f.do(t, podmgr.RoleAdmin, "DELETE", "/api/v1/pods/pod-a?force=true", ""); code != 204 {
		t.Fatalf("forced delete: %d", code)
	}
}

// TestRoleMatrix walks every mounted route: viewers get 403 on every change, CI tokens
// on everything but version, operators on token routes; no token is 401.
func TestRoleMatrix(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	type call struct{ method, path, body string }
	var calls []call
	for _, rt := range f.api.coreRoutes() {
		path := strings.NewReplacer("{name}", "pod-a", "{mac}", "52:54:00:00:00:01", "{id}", "nope").Replace(rt.Path)
		body := ""
		if rt.Method == "POST" || rt.Method == "PUT" {
			body = "{}"
		}
		calls = append(calls, call{rt.Method, path, body})
	}
	for _, c := range calls {
		if code, _ := f.do(t, "", c.method, c.path, c.body); code != 401 {
			t.Errorf("no token %s %s: %d, want 401", c.method, c.path, code)
		}
		tokenRoute := strings.HasPrefix(c.path, "/api/v1/tokens")
		if code, _ := f.do(t, podmgr.RoleViewer, c.method, c.path, c.body); (c.method != "GET" || tokenRoute) != (code == 403) {
			t.Errorf("viewer %s %s: %d", c.method, c.path, code)
		}
		if code, _ := f.do(t, podmgr.RoleCI, c.method, c.path, c.body); (c.path != "/api/v1/version") != (code == 403) {
			t.Errorf("ci %s %s: %d", c.method, c.path, code)
		}
	}
	// Nothing a refused request did reached the store.
	if len(f.mgr.Pods()) != 1 || f.mgr.Registry().HostCount("") != 1 || len(f.mgr.Profiles()) != 1 || len(f.mgr.Tokens()) != 4 {
		t.Fatal("refused requests changed the store")
	}
	for _, c := range calls {
		tokenRoute := strings.HasPrefix(c.path, "/api/v1/tokens")
		if code, _ := f.do(t, podmgr.RoleOperator, c.method, c.path, c.body); tokenRoute != (code == 403) {
			t.Errorf("operator %s %s: %d", c.method, c.path, code)
		}
	}
}

func TestEveryChangeIsAudited(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	if code, body := f.do(t, podmgr.RoleOperator, "PUT", "/api/v1/hosts/52:54:00:00:00:01/netboot", `{"netboot":false}`); code != 200 {
		t.Fatal(code, body)
	}
	// Asking again changes nothing and so audits nothing.
	if code, body := f.do(t, podmgr.RoleOperator, "PUT", "/api/v1/hosts/52:54:00:00:00:01/netboot", `{"netboot":false}`); code != 200 || !strings.Contains(body, `"changed": false`) {
		t.Fatal(code, body)
	}
	f.do(t, podmgr.RoleOperator, "DELETE", "/api/v1/hosts/52:54:00:00:00:01", "")
	code, body := f.do(t, podmgr.RoleViewer, "GET", "/api/v1/events?kind=audit", "")
	if code != 200 {
		t.Fatal(code, body)
	}
	var evs []podmgr.Event
	if err := json.Unmarshal([]byte(body), &evs); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	want := []string{"test:token.create", "test:token.create", "test:token.create", "test:token.create",
		"token:admin-tok:profile.create", "token:admin-tok:pod.create", "token:admin-tok:host.add", "token:operator-tok:host.netboot.off", "token:operator-tok:host.delete"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit trail:\n got %v\nwant %v", actions, want)
	}
}
