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
	// A bare-name reference protects only the last version of the name: the newest of
	// several may go (issue 10: the admin could not take back a rogue push without
	// pinning every profile), and the reference moves to the next newest. A pinned
	// reference protects its version.
	if _, err := store.Ingest(ctx, artifact.Meta{Name: "vmlinuz", Version: "3", Kind: artifact.KindKernel}, strings.NewReader("kernel-3"), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mgr.ApplyProfile(ctx, podmgr.Actor{Name: "t"}, podmgr.Profile{Name: "p", Kernel: "vmlinuz"}, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := mgr.ApplyProfile(ctx, podmgr.Actor{Name: "t"}, podmgr.Profile{Name: "pinned", Kernel: "vmlinuz@1"}, true); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		ref      string
		want     int
		contains string
		newest   string
	}{
		{"vmlinuz@3", 204, "", "2"},
		{"vmlinuz@1", 409, "profile pinned", "2"},
		{"vmlinuz@2", 204, "", "1"},
	} {
		if code, body := call(admin, "DELETE", "/api/v1/images/"+s.ref, ""); code != s.want || !strings.Contains(body, s.contains) {
			t.Fatalf("delete %s: %d %s; want %d with %q", s.ref, code, body, s.want, s.contains)
		}
		if a, _ := store.Resolve("vmlinuz"); a.Version != s.newest {
			t.Fatalf("after deleting %s the bare name serves %s; want %s", s.ref, a.Version, s.newest)
		}
	}
	if _, _, err := mgr.ApplyProfile(ctx, podmgr.Actor{Name: "t"}, podmgr.Profile{Name: "pinned", Kernel: "other"}, false); err != nil {
		t.Fatal(err)
	}
	if code, body := call(admin, "DELETE", "/api/v1/images/vmlinuz@1", ""); code != 409 || !strings.Contains(body, "profile p ") {
		t.Fatalf("delete the last version a bare name references: %d %s", code, body)
	}
	var list []artifact.Artifact
	_, body := call(viewer, "GET", "/api/v1/images", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].Version != "1" {
		t.Fatalf("after delete: %v %s", err, body)
	}
	if code, body := call(admin, "POST", "/api/v1/images?name=vmlinuz&version=9&kind=bootloader", "rom"); code != 409 || !strings.Contains(body, "vmlinuz is a kernel") {
		t.Fatalf("image add changing a name's kind: %d %s", code, body)
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
