package provision

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func TestManagementRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := api.New(e.mgr, slog.New(slog.DiscardHandler), "test")
	a.Mount(e.svc.Routes()...)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	tokens := map[podmgr.Role]string{}
	for _, r := range []podmgr.Role{podmgr.RoleViewer, podmgr.RoleOperator, podmgr.RoleCI} {
		s, _, err := e.mgr.CreateToken(ctx, admin, string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = s
	}
	do := func(method, path string, role podmgr.Role) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tokens[role])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	tests := []struct {
		name   string
		method string
		path   string
		role   podmgr.Role
		want   int
	}{
		{"viewer may not reprovision", "POST", "/api/v1/hosts/" + mac + "/reprovision", podmgr.RoleViewer, http.StatusForbidden},
		{"ci may not reprovision", "POST", "/api/v1/hosts/" + mac + "/reprovision", podmgr.RoleCI, http.StatusForbidden},
		{"unknown host", "POST", "/api/v1/hosts/52:54:00:99:99:99/reprovision", podmgr.RoleOperator, http.StatusNotFound},
		{"bad MAC", "POST", "/api/v1/hosts/nope/reprovision", podmgr.RoleOperator, http.StatusBadRequest},
		{"operator reprovisions", "POST", "/api/v1/hosts/" + mac + "/reprovision", podmgr.RoleOperator, http.StatusOK},
		{"ci may not watch", "GET", "/api/v1/watch", podmgr.RoleCI, http.StatusForbidden},
		{"watch unknown pod", "GET", "/api/v1/watch?pod=nope", podmgr.RoleViewer, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, tt.path, tt.role)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	t.Run("watch: snapshot, then live events", func(t *testing.T) {
		resp := do("GET", "/api/v1/watch?pod=pod-a", podmgr.RoleViewer)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		next := func() podmgr.Event {
			lines := make(chan podmgr.Event, 1)
			go func() {
				var ev podmgr.Event
				if sc.Scan() {
					json.Unmarshal(sc.Bytes(), &ev)
				}
				lines <- ev
			}()
			select {
			case ev := <-lines:
				return ev
			case <-time.After(10 * time.Second):
				t.Fatal("no watch line within 10s")
			}
			return podmgr.Event{}
		}
		if ev := next(); ev.Action != "state" || ev.MAC != mac || ev.State != podmgr.StateRegistered {
			t.Fatalf("snapshot line %+v", ev)
		}
		h, _ := e.mgr.Registry().Host(mac)
		if _, err := e.svc.HostToken(ctx, h, podmgr.HostStep{}); err != nil {
			t.Fatal(err)
		}
		if ev := next(); ev.Action != "token.issued" || ev.MAC != mac {
			t.Fatalf("live line %+v", ev)
		}
	})
}
