package pxe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

func selfSigned(t *testing.T) (certFile, keyFile string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

type curlResult struct {
	code    string
	headers string
	body    []byte
}

// curl runs the real client; -D - puts the headers before the body on stdout.
func curl(t *testing.T, args ...string) curlResult {
	t.Helper()
	dir := t.TempDir()
	hdr, out := filepath.Join(dir, "h"), filepath.Join(dir, "b")
	all := append([]string{"-sS", "--max-time", "30", "--path-as-is", "-D", hdr, "-o", out, "-w", "%{http_code}"}, args...)
	code, err := exec.Command("curl", all...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	h, _ := os.ReadFile(hdr)
	b, _ := os.ReadFile(out)
	return curlResult{code: string(code), headers: strings.ToLower(string(h)), body: b}
}

func TestHTTPBoot(t *testing.T) {
	need(t, "curl")
	cert, key := selfSigned(t)
	f := newFixture(t, func(c *Config) { c.HTTPSAddr, c.TLSCertFile, c.TLSKeyFile = "127.0.0.1:0", cert, key })
	base := "http://" + f.svc.HTTPAddr().String()
	tlsBase := "https://" + f.svc.HTTPSAddr().String()
	kernel, _ := f.store.Resolve("vmlinuz@1")
	stage2, _ := f.store.Resolve("os@1")
	events, unsubscribe := f.mgr.Subscribe()
	defer unsubscribe()

	t.Run("script", func(t *testing.T) {
		writes := f.writes.n.Load()
		r := curl(t, base+podmgr.ScriptPath("pod-a", macA))
		if r.code != "200" {
			t.Fatalf("code %s", r.code)
		}
		s := string(r.body)
		httpPort := f.svc.HTTPAddr().(*net.TCPAddr).Port
		for _, want := range []string{"#!ipxe",
			"kernel http://127.0.0.1:" + itoa(httpPort) + "/boot/pod-a/52-54-00-00-00-0a/vmlinuz initrd=initrd.img console=ttyS0",
			"podboot.server=https://127.0.0.1:", "podboot.mac=" + macA, "podboot.token=" + podmgr.HostTokenPrefix,
			"initrd http://127.0.0.1:" + itoa(httpPort) + "/boot/pod-a/52-54-00-00-00-0a/initrd.img", "\nboot"} {
			if !strings.Contains(s, want) {
				t.Errorf("script lacks %q:\n%s", want, s)
			}
		}
		waitEvent(t, events, macA, "http.script", podmgr.StateBooting)
		// One script GET is one commit: the token, its event and the move to booting.
		if n := f.writes.n.Load() - writes; n != 1 {
			t.Errorf("script GET: %d write transactions, want 1", n)
		}
		_, tok, _ := strings.Cut(s, "podboot.token=")
		tok = strings.Fields(tok + " x")[0]
		if h, err := f.mgr.CheckHostToken(macA, tok); err != nil || h.State != podmgr.StateBooting {
			t.Errorf("token in the script: %v, host state %s", err, h.State)
		}
	})
	t.Run("kernel full", func(t *testing.T) {
		r := curl(t, base+podmgr.HTTPBootPath("pod-a", macA, "vmlinuz"))
		if r.code != "200" || string(r.body) != string(f.content["vmlinuz"]) {
			t.Fatalf("code %s, %d bytes", r.code, len(r.body))
		}
		for _, want := range []string{`etag: "` + kernel.Digest + `"`, "content-length: 300000", "accept-ranges: bytes"} {
			if !strings.Contains(r.headers, want) {
				t.Errorf("headers lack %q:\n%s", want, r.headers)
			}
		}
		waitEvent(t, events, macA, "http.sent", podmgr.StateBooting)
	})
	t.Run("kernel range over TLS", func(t *testing.T) {
		r := curl(t, "-k", "-r", "100-199", tlsBase+podmgr.HTTPBootPath("pod-a", macA, "vmlinuz"))
		if r.code != "206" || string(r.body) != string(f.content["vmlinuz"][100:200]) {
			t.Fatalf("code %s, %d bytes", r.code, len(r.body))
		}
	})
	t.Run("if-none-match", func(t *testing.T) {
		r := curl(t, "-H", `If-None-Match: "`+kernel.Digest+`"`, base+podmgr.HTTPBootPath("pod-a", macA, "vmlinuz"))
		if r.code != "304" {
			t.Fatalf("code %s", r.code)
		}
	})
	t.Run("signature beside stage2", func(t *testing.T) {
		r := curl(t, base+podmgr.HTTPBootPath("pod-a", macA, "os.p7s"))
		if r.code != "200" || string(r.body) != "detached-cms" || !strings.Contains(r.headers, `etag: "`+stage2.SignatureDigest) {
			t.Fatalf("code %s body %q", r.code, r.body)
		}
		if r := curl(t, base+podmgr.HTTPBootPath("pod-a", macA, "os@1")); r.code != "200" || len(r.body) != int(stage2.Size) {
			t.Fatalf("stage2 by name@version: code %s", r.code)
		}
	})
	t.Run("netboot off gets exit", func(t *testing.T) {
		r := curl(t, base+podmgr.ScriptPath("pod-a", macOff))
		if r.code != "200" || !strings.Contains(string(r.body), "\nexit\n") || strings.Contains(string(r.body), "kernel") {
			t.Fatalf("code %s body %q", r.code, r.body)
		}
	})
	t.Run("source address of the lease", func(t *testing.T) {
		path := base + podmgr.HTTPBootPath("pod-a", macFar, "vmlinuz")
		if r := curl(t, path); r.code != "404" {
			t.Fatalf("from 127.0.0.1: code %s, want 404", r.code)
		}
		if r := curl(t, "--interface", "127.0.0.9", path); r.code != "200" {
			t.Fatalf("from the reserved 127.0.0.9: code %s, want 200", r.code)
		}
	})
	refused := []struct{ name, path string }{
		{"netboot off kernel", podmgr.HTTPBootPath("pod-a", macOff, "vmlinuz")},
		{"other pod's artifact", podmgr.HTTPBootPath("pod-a", macA, "b-only.efi")},
		{"host of other pod", podmgr.HTTPBootPath("pod-b", macA, "vmlinuz")},
		{"not onboarded", podmgr.HTTPBootPath("pod-a", macA, "orphan.bin")},
		{"unsigned .p7s", podmgr.HTTPBootPath("pod-a", macA, "vmlinuz.p7s")},
		{"other version", podmgr.HTTPBootPath("pod-a", macA, "vmlinuz@2")},
		{"dotdot", "/boot/pod-a/52-54-00-00-00-0a/../../../etc/passwd"},
		{"encoded dotdot", "/boot/pod-a/52-54-00-00-00-0a/%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
		{"listing", "/boot/pod-a/52-54-00-00-00-0a/"},
		{"root", "/"},
		{"unknown pod", podmgr.HTTPBootPath("pod-x", macA, "vmlinuz")},
	}
	for _, tt := range refused {
		t.Run("refuse "+tt.name, func(t *testing.T) {
			r := curl(t, base+tt.path)
			if r.code != "404" {
				t.Fatalf("code %s, want 404", r.code)
			}
			if strings.Contains(string(r.body), "/tmp") || strings.Contains(string(r.body), "blob") {
				t.Fatalf("body leaks internals: %q", r.body)
			}
		})
	}
	if r := curl(t, "-X", "POST", base+podmgr.ScriptPath("pod-a", macA)); r.code != "405" {
		t.Errorf("POST: code %s", r.code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// waitEvent waits (bounded) for a host event from the manager's subscription.
func waitEvent(t *testing.T, ch <-chan podmgr.Event, mac, action string, state podmgr.HostState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.MAC == mac && e.Action == action {
				if e.State != state {
					t.Fatalf("event %s: state %s, want %s", action, e.State, state)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no %s event for %s", action, mac)
		}
	}
}

// TestProfileTemplateCheck: a template that does not render is refused at save time
// with the line and the reason; a good custom template is used for the script.
func TestProfileTemplateCheck(t *testing.T) {
	f := newFixture(t, nil)
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	ctx := context.Background()
	tests := []struct {
		name, tmpl, want string
	}{
		{"unknown function", "#!ipxe\nkernel {{kernal .KernelURL}}\n", `ipxe:2: function "kernal" not defined`},
		{"unknown field", "#!ipxe\necho hi\nkernel {{.Kernal}}\n", "ipxe:3:9"},
		{"unclosed action", "#!ipxe\n{{if .Token}}\nboot\n", "unexpected EOF"},
		{"not an ipxe script", "kernel {{.KernelURL}}\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "bad", Kernel: "vmlinuz", Initrd: "initrd.img", IPXEScript: tt.tmpl}, false)
			if !errors.Is(err, podmgr.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want invalid with %q, got %v", tt.want, err)
			}
		})
	}
	p, _ := f.mgr.Registry().Profile("prof-a")
	p.IPXEScript = "#!ipxe\nchain {{.BootURL}}/custom-{{.MACPath}}\n"
	if _, _, err := f.mgr.ApplyProfile(ctx, admin, p, false); err != nil {
		t.Fatal(err)
	}
	need(t, "curl")
	r := curl(t, "http://"+f.svc.HTTPAddr().String()+podmgr.ScriptPath("pod-a", macA))
	if !strings.Contains(string(r.body), "/boot/pod-a/52-54-00-00-00-0a/custom-52-54-00-00-00-0a") {
		t.Fatalf("custom template not used: %q", r.body)
	}
}

// TestSelectiveOnboardingFollowsChanges: adding a file to the pod's Artifacts list
// onboards it at once; a host's own profile onboards its files for the whole pod.
func TestSelectiveOnboardingFollowsChanges(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	bp := bootPath{pod: "pod-a", mac: macA, file: "orphan.bin"}
	tgt, why := f.svc.gate(bp, mustAddr("127.0.0.1"))
	if why != "" {
		t.Fatal(why)
	}
	if _, err := f.svc.artifactFor(tgt, "orphan.bin"); err == nil {
		t.Fatal("orphan served before onboarding")
	}
	pc, _ := f.mgr.Registry().Pod("pod-a")
	pod := pc.Pod
	pod.Artifacts = append(pod.Artifacts, "orphan.bin@1")
	if _, _, err := f.mgr.ApplyPod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	tgt, _ = f.svc.gate(bp, mustAddr("127.0.0.1"))
	if a, err := f.svc.artifactFor(tgt, "orphan.bin"); err != nil || a.Kind != artifact.KindPackage {
		t.Fatalf("after onboarding: %v", err)
	}
	// Referenced by name but not in the store: "missing", still not found.
	pod.Artifacts = append(pod.Artifacts, "ghost.bin")
	if _, _, err := f.mgr.ApplyPod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	tgt, _ = f.svc.gate(bp, mustAddr("127.0.0.1"))
	if _, err := f.svc.artifactFor(tgt, "ghost.bin"); !errors.Is(err, errMissing) {
		t.Fatalf("want missing, got %v", err)
	}
}

func TestParseBootPath(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		file string
		sig  bool
	}{
		{"pod-a/52-54-00-00-00-0a/undionly.kpxe", true, "undionly.kpxe", false},
		{"pod-a/52:54:00:00:00:0a/os@1.p7s", true, "os@1", true},
		{"pod-a/52-54-00-00-00-0a/script.ipxe", true, "script.ipxe", false},
		{"pod-a/52-54-00-00-00-0a/script.ipxe.p7s", false, "", false},
		{"/pod-a/52-54-00-00-00-0a/undionly.kpxe", false, "", false},
		{"pod-a/52-54-00-00-00-0a/../x", false, "", false},
		{"pod-a/52-54-00-00-00-0a/..", false, "", false},
		{"pod-a/52-54-00-00-00-0a/a/b", false, "", false},
		{"pod-a/52-54-00-00-00-0a", false, "", false},
		{"pod-a/not-a-mac/x", false, "", false},
		{"POD/52-54-00-00-00-0a/x", false, "", false},
		{"pod-a/52-54-00-00-00-0a/x\\y", false, "", false},
		{"pod-a/52-54-00-00-00-0a/x\x00", false, "", false},
		{"pod-a/52-54-00-00-00-0a/.hidden", false, "", false},
		{"", false, "", false},
	}
	for _, tt := range tests {
		bp, ok := parseBootPath(tt.in)
		if ok != tt.ok || (ok && (bp.file != tt.file || bp.sig != tt.sig)) {
			t.Errorf("parseBootPath(%q) = %+v, %v", tt.in, bp, ok)
		}
	}
}

func FuzzParseBootPath(f *testing.F) {
	for _, s := range []string{"pod-a/52-54-00-00-00-0a/undionly.kpxe", "../../etc/passwd", "a/b/c.p7s", "p/52:54:00:00:00:01/x@1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bp, ok := parseBootPath(s)
		if !ok {
			return
		}
		for _, part := range []string{bp.pod, bp.file} {
			if strings.Contains(part, "..") || strings.ContainsAny(part, "/\\\x00") {
				t.Fatalf("accepted %q as %+v", s, bp)
			}
		}
	})
}

// A HEAD on the script must not issue a token: each token replaces the previous one, so
// a probe would break a boot in progress.
func TestScriptHeadIssuesNoToken(t *testing.T) {
	need(t, "curl")
	var issued atomic.Int32
	f := newFixture(t, func(c *Config) {
		c.HostToken = func(ctx context.Context, h podmgr.Host, step podmgr.HostStep) (string, error) {
			issued.Add(1)
			return "tok", nil
		}
	})
	url := "http://" + f.svc.HTTPAddr().String() + podmgr.ScriptPath("pod-a", macA)
	if r := curl(t, "-I", url); r.code != "200" || issued.Load() != 0 {
		t.Fatalf("HEAD: code %s, %d tokens issued", r.code, issued.Load())
	}
	if r := curl(t, url); r.code != "200" || issued.Load() != 1 || !strings.Contains(string(r.body), "podboot.token=tok") {
		t.Fatalf("GET: code %s, %d tokens issued", r.code, issued.Load())
	}
}

// TestOtherHostsProfilesOnboard: a file only another host's own profile references is
// served to every host of that pod (the first such host in MAC order decides the
// version), and to no host of another pod.
func TestOtherHostsProfilesOnboard(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	if _, err := f.store.Ingest(ctx, artifact.Meta{Name: "orphan.bin", Version: "2", Kind: artifact.KindPackage}, strings.NewReader("v2"), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []podmgr.Profile{
		{Name: "own-1", Kernel: "vmlinuz@1", Initrd: "initrd.img", BashPackage: "orphan.bin@1"},
		{Name: "own-2", Kernel: "vmlinuz@1", Initrd: "initrd.img", BashPackage: "orphan.bin@2"},
	} {
		if _, _, err := f.mgr.ApplyProfile(ctx, admin, p, true); err != nil {
			t.Fatal(err)
		}
	}
	// The higher MAC is added first: the answer must not depend on insertion order.
	if _, err := f.mgr.AddHosts(ctx, admin, []podmgr.Host{
		{MAC: "52:54:00:00:00:e2", Pod: "pod-a", Profile: "own-2"},
		{MAC: "52:54:00:00:00:e1", Pod: "pod-a", Profile: "own-1"},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mac, file string
		want            string // served ref, "" for refused
	}{
		{"bare name: lowest MAC's reference", macA, "orphan.bin", "orphan.bin@1"},
		{"other version by name@version", macA, "orphan.bin@2", "orphan.bin@2"},
		{"the host itself", "52:54:00:00:00:e2", "orphan.bin", "orphan.bin@2"},
		{"another pod", macB, "orphan.bin", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := f.mgr.Registry().Host(tt.mac)
			tgt, why := f.svc.gate(bootPath{pod: h.Pod, mac: tt.mac, file: tt.file}, mustAddr("127.0.0.1"))
			if why != "" && why != refuseSource {
				t.Fatal(why)
			}
			a, err := f.svc.artifactFor(tgt, tt.file)
			if tt.want == "" {
				if !errors.Is(err, errNotOnboarded) {
					t.Fatalf("got %s, %v; want not onboarded", a.Ref(), err)
				}
				return
			}
			if err != nil || a.Ref() != tt.want {
				t.Fatalf("got %s, %v; want %s", a.Ref(), err, tt.want)
			}
		})
	}
}

// TestHTTPBootLoaderContentType: an EFI loader is served as application/efi, so UEFI
// HTTP Boot accepts it under a versioned name (ipxe.efi@1) whose URL has no .efi end;
// other artifacts stay application/octet-stream.
func TestHTTPBootLoaderContentType(t *testing.T) {
	need(t, "curl")
	f := newFixture(t, nil)
	base := "http://" + f.svc.HTTPAddr().String()
	for _, tc := range []struct{ path, want string }{
		{podmgr.HTTPBootPath("pod-b", macB, "b-only.efi@1"), "content-type: application/efi\r\n"},
		{podmgr.HTTPBootPath("pod-b", macB, "b-only.efi"), "content-type: application/efi\r\n"},
		{podmgr.HTTPBootPath("pod-a", macA, "undionly.kpxe"), "content-type: application/octet-stream\r\n"},
		{podmgr.HTTPBootPath("pod-a", macA, "vmlinuz@1"), "content-type: application/octet-stream\r\n"},
	} {
		for _, method := range []string{"-I", "-G"} { // HEAD, GET
			r := curl(t, method, base+tc.path)
			if r.code != "200" || !strings.Contains(r.headers, tc.want) {
				t.Errorf("curl %s %s: code %s, want %q in headers:\n%s", method, tc.path, r.code, tc.want, r.headers)
			}
		}
	}
}
