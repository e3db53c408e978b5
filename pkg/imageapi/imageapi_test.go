package imageapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

func TestImageRoutes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	store, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := api.New(mgr, log, "test")
	a.Mount(New(store, mgr, log).Routes()...)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	admin, _, _ := mgr.CreateToken(ctx, podmgr.Actor{Name: "t"}, "admin", podmgr.RoleAdmin)
	viewer, _, _ := mgr.CreateToken(ctx, podmgr.Actor{Name: "t"}, "viewer", podmgr.RoleViewer)
	call := func(tok, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		name, tok, method, path, body string
		want                          int
		contains                      string
	}{
		{"admin adds a kernel", admin, "POST", "/api/v1/images?name=vmlinuz&version=1&kind=kernel", "kernel-1", 201, `"digest"`},
		{"same again is a no-op", admin, "POST", "/api/v1/images?name=vmlinuz&version=1&kind=kernel", "kernel-1", 201, ""},
		{"other bytes, same version", admin, "POST", "/api/v1/images?name=vmlinuz&version=1&kind=kernel", "kernel-x", 409, "immutable"},
		{"admin adds version 2", admin, "POST", "/api/v1/images?name=vmlinuz&version=2&kind=kernel", "kernel-2", 201, ""},
		{"viewer may not add", viewer, "POST", "/api/v1/images?name=x&version=1&kind=kernel", "x", 403, ""},
		{"stage2 must be pushed signed", admin, "POST", "/api/v1/images?name=os&version=1&kind=stage2", "x", 400, "image push"},
		{"bad name", admin, "POST", "/api/v1/images?name=../x&version=1&kind=kernel", "x", 400, "artifact name"},
		{"viewer lists", viewer, "GET", "/api/v1/images", "", 200, "vmlinuz"},
		{"viewer shows one", viewer, "GET", "/api/v1/images/vmlinuz@2", "", 200, `"version": "2"`},
		{"show missing", viewer, "GET", "/api/v1/images/nope", "", 404, "image list"},
		{"delete needs a version", admin, "DELETE", "/api/v1/images/vmlinuz", "", 400, "NAME@VERSION"},
		{"viewer may not delete", viewer, "DELETE", "/api/v1/images/vmlinuz@1", "", 403, ""},
	}
	for _, s := range steps {
		code, body := call(s.tok, s.method, s.path, s.body)
		if code != s.want || !strings.Contains(body, s.contains) {
			t.Fatalf("%s: %d %s, want %d containing %q", s.name, code, body, s.want, s.contains)
		}
	}
	// A profile referencing the bare name protects the newest version only.
	if _, _, err := mgr.ApplyProfile(ctx, podmgr.Actor{Name: "t"}, podmgr.Profile{Name: "p", Kernel: "vmlinuz"}, true); err != nil {
		t.Fatal(err)
	}
	if code, body := call(admin, "DELETE", "/api/v1/images/vmlinuz@2", ""); code != 409 || !strings.Contains(body, "profile p") {
		t.Fatalf("delete referenced: %d %s", code, body)
	}
	if code, body := call(admin, "DELETE", "/api/v1/images/vmlinuz@1", ""); code != 204 {
		t.Fatalf("delete unreferenced: %d %s", code, body)
	}
	var list []artifact.Artifact
	_, body := call(viewer, "GET", "/api/v1/images", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].Version != "2" {
		t.Fatalf("after delete: %v %s", err, body)
	}
	evs, _ := mgr.Events(ctx, podmgr.EventFilter{Kind: podmgr.KindAudit})
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); !strings.Contains(got, "image.add") || !strings.Contains(got, "image.delete") {
		t.Fatalf("audit events: %s", got)
	}
}
