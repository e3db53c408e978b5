package imagepush_test

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
	"github.com/podboot/podboot/pkg/podmgr"
)

// fixture is the management API with the push route over a real artifact store, served
// over TLS on 127.0.0.1, with one token per role.
type fixture struct {
	srv    *httptest.Server
	mgr    *podmgr.Manager
	store  *artifact.Store
	root   *pushtest.Cert
	tokens map[podmgr.Role]string
}

func newFixture(t *testing.T, maxUpload int64) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	store, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{mgr: mgr, store: store, root: pushtest.Root(t, "test root"), tokens: map[podmgr.Role]string{}}
	rootFile, _ := f.root.Write(t, dir, "root")
	h, err := imagepush.New(imagepush.Config{RootCA: rootFile, MaxUploadBytes: maxUpload}, store, imagepush.ManagerAudit(mgr, log), log)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(mgr, log, "test")
	a.Mount(h.Routes()...)
	for _, r := range []podmgr.Role{podmgr.RoleAdmin, podmgr.RoleOperator, podmgr.RoleCI, podmgr.RoleViewer} {
		secret, _, err := mgr.CreateToken(ctx, podmgr.Actor{Name: "test"}, string(r)+"-tok", r)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[r] = secret
	}
	f.srv = httptest.NewTLSServer(a.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// client is an API client with role's token ("" for none).
func (f *fixture) client(t *testing.T, role podmgr.Role) *api.Client {
	t.Helper()
	return f.clientWith(t, f.tokens[role])
}

// grantedClient is an API client with a new ci token granted g.
func (f *fixture) grantedClient(t *testing.T, name string, g podmgr.PushGrant) *api.Client {
	t.Helper()
	secret, _, err := f.mgr.IssueToken(context.Background(), podmgr.Actor{Name: "test"}, podmgr.TokenSpec{Name: name, Role: podmgr.RoleCI, Push: g})
	if err != nil {
		t.Fatal(err)
	}
	return f.clientWith(t, secret)
}

func (f *fixture) clientWith(t *testing.T, token string) *api.Client {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	c, err := api.NewClient(api.ClientConfig{Server: f.srv.URL, Token: token, CACert: string(ca)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// state is what a push may change: the store's files and its records.
type state struct {
	files   []string
	records []artifact.Artifact
}

func (f *fixture) state(t *testing.T) state {
	t.Helper()
	return state{files: pushtest.Snapshot(t, f.store.Dir()), records: f.store.List()}
}

func (f *fixture) assertUnchanged(t *testing.T, before state) {
	t.Helper()
	after := f.state(t)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("store changed:\nbefore %v\nafter  %v", before, after)
	}
}

func digest(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}
