package agent

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/imagesign"
)

type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}
func (m *memDisk) Sync() error { return nil }

type signed struct {
	image, sig []byte
	roots      *x509.CertPool
}

func signImage(t *testing.T, size int) signed {
	t.Helper()
	dir := t.TempDir()
	pki, err := imagesign.InitCA(filepath.Join(dir, "pki"), "test root", imagesign.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := pki.IssueCodeSigning("ci", dir, imagesign.KeyECDSA, 0)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := imagesign.LoadCertificates(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := imagesign.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, size)
	rand.Read(img)
	sig, err := imagesign.Sign(context.Background(), bytes.NewReader(img), certs[0], key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return signed{image: img, sig: sig, roots: pki.CertPool()}
}

// server serves the image; cut > 0 makes the first full GET stop after cut bytes.
func server(t *testing.T, image, sig []byte, cut int) (*httptest.Server, *atomic.Int32) {
	var gets atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/"+agentproto.SignaturePath):
			w.Write(sig)
		case strings.HasSuffix(r.URL.Path, "/"+agentproto.Stage2Path):
			n := gets.Add(1)
			if n == 1 && cut > 0 && r.Header.Get("Range") == "" {
				w.Header().Set("Content-Length", "999999999")
				w.WriteHeader(http.StatusOK)
				w.Write(image[:cut])
				return // the short body ends the response early
			}
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(image))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &gets
}

func TestStage2(t *testing.T) {
	s := signImage(t, 3<<20+123)
	other := signImage(t, 1000)
	tampered := bytes.Clone(s.image)
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name    string
		image   []byte
		sig     []byte
		roots   *x509.CertPool
		cut     int
		reason  string
		resumes int
	}{
		{"good", s.image, s.sig, s.roots, 0, "", 0},
		{"resumed after cut", s.image, s.sig, s.roots, 1<<20 + 7, "", 1},
		{"tampered", tampered, s.sig, s.roots, 0, string(imagesign.ReasonDigestMismatch), 0},
		{"other root", s.image, s.sig, other.roots, 0, string(imagesign.ReasonUntrustedRoot), 0},
		{"truncated signature", s.image, s.sig[:40], s.roots, 0, string(imagesign.ReasonMalformed), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := server(t, tt.image, tt.sig, tt.cut)
			u, _ := url.Parse(srv.URL)
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			c := NewClient(Params{Server: u, MAC: "52:54:00:12:34:56", Token: "tok"}, pool, slog.New(slog.DiscardHandler))
			d := agentproto.Chainload{URL: agentproto.Stage2Path, SignatureURL: agentproto.SignaturePath, Size: int64(len(s.image))}
			disk := &memDisk{}
			res, err := Stage2(context.Background(), c, d, disk, tt.roots, time.Now(), slog.New(slog.DiscardHandler))
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(disk.b, s.image) || res.Resumes != tt.resumes {
					t.Fatalf("disk differs from the image (resumes %d)", res.Resumes)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason != tt.reason {
				t.Fatalf("err = %v, want refusal %q", err, tt.reason)
			}
		})
	}
}

func TestStage2RefusesForeignURL(t *testing.T) {
	u, _ := url.Parse("https://198.51.100.10:8443")
	c := NewClient(Params{Server: u, MAC: "52:54:00:12:34:56", Token: "tok"}, x509.NewCertPool(), slog.New(slog.DiscardHandler))
	if _, err := c.URL("https://203.0.113.9/steal"); err == nil {
		t.Fatal("a URL on another server was accepted")
	}
	got, err := c.URL(agentproto.Stage2Path)
	if err != nil || got != "https://198.51.100.10:8443/agent/v1/hosts/52-54-00-12-34-56/stage2" {
		t.Fatalf("URL = %q, %v", got, err)
	}
}

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"ok", "console=ttyS0 initrd=initrd podboot.server=https://198.51.100.10:8443 podboot.pod=pod-a podboot.mac=52:54:00:AA:bb:01 podboot.token=abc", ""},
		{"no server", "podboot.mac=52:54:00:aa:bb:01 podboot.token=abc", "podboot.server"},
		{"plain http", "podboot.server=http://198.51.100.10:8080 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc", "https"},
		{"no token", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01", "token"},
		{"bad disk", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=a podboot.disk=../sda", "disk"},
		{"replicas", "podboot.server=https://198.51.100.10:8443 podboot.servers=https://198.51.100.10:8443,https://198.51.100.12:8443 podboot.pod=pod-a podboot.mac=52:54:00:aa:bb:01 podboot.token=abc", ""},
		{"static", "podboot.server=https://198.51.100.10:8443 podboot.pod=pod-a podboot.mac=52:54:00:aa:bb:01 podboot.token=abc podboot.ip=192.0.2.50/24 podboot.gw=192.0.2.1 podboot.dns=192.0.2.53,192.0.2.54", ""},
		{"static bad prefix", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc podboot.ip=192.0.2.50", "podboot.ip"},
		{"static gateway outside", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc podboot.ip=192.0.2.50/24 podboot.gw=198.51.100.1", "podboot.gw"},
		{"gateway without ip", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc podboot.gw=192.0.2.1", "podboot.ip"},
		{"bad dns", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc podboot.ip=192.0.2.50/24 podboot.dns=x", "podboot.dns"},
		{"plain http replica", "podboot.server=https://198.51.100.10:8443 podboot.servers=http://198.51.100.12:8080 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc", "podboot.servers"},
		{"bad lldp", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=a podboot.lldp=-1", "podboot.lldp"},
		{"long lldp", "podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=a podboot.lldp=301", "podboot.lldp"},
		{"fetch: no MAC", "podboot.server=https://198.51.100.10:8443 podboot.token=fetch", ""},
		{"fetch: bad MAC", "podboot.server=https://198.51.100.10:8443 podboot.mac=x podboot.token=fetch", "MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseCmdline(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if p.Fetch {
				if err != nil || p.MAC != "" || p.Token != "" {
					t.Fatalf("fetch: p = %+v, %v", p, err)
				}
				return
			}
			if err != nil || p.MAC != "52:54:00:aa:bb:01" || p.Pod != "pod-a" || p.Server.Host != "198.51.100.10:8443" || p.LLDPWait != -1 {
				t.Fatalf("p = %+v, %v", p, err)
			}
			if tt.name == "replicas" && (len(p.Fallback) != 1 || p.Fallback[0].Host != "198.51.100.12:8443") {
				t.Fatalf("fallback = %v, want the other replica only", p.Fallback)
			}
			if p, err := ParseCmdline(tt.in + " podboot.lldp=12"); err != nil || p.LLDPWait != 12*time.Second {
				t.Fatalf("with podboot.lldp=12: p = %+v, %v", p, err)
			}
			if tt.name == "static" && (p.Static == nil || p.Static.Addr.String() != "192.0.2.50/24" || p.Static.Gateway.String() != "192.0.2.1" || len(p.Static.DNS) != 2) {
				t.Fatalf("static = %+v", p.Static)
			}
			if tt.name == "ok" && p.Static != nil {
				t.Fatalf("static = %+v without podboot.ip", p.Static)
			}
		})
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("podboot.server=https://198.51.100.10:8443 podboot.servers=https://198.51.100.12:8443,,https://[::1]:1 podboot.mac=52:54:00:aa:bb:01 podboot.token=abc")
	f.Add("podboot.servers=%zz podboot.server=https://a podboot.mac=x")
	f.Add("podboot.server=https://198.51.100.10:8443 podboot.mac=52:54:00:aa:bb:01 podboot.token=a podboot.ip=192.0.2.5/24 podboot.gw=192.0.2.1 podboot.dns=192.0.2.53,")
	f.Fuzz(func(t *testing.T, cmdline string) {
		p, err := ParseCmdline(cmdline)
		if err != nil {
			return
		}
		for _, u := range append([]*url.URL{p.Server}, p.Fallback...) {
			if u.Scheme != "https" || u.Host == "" {
				t.Fatalf("accepted server %v", u)
			}
		}
	})
}

// TestWithHostParams: the server's answer fills pod, MAC and token; it cannot move the
// server or the disk, and an answer without a MAC or token is refused.
func TestWithHostParams(t *testing.T) {
	p, err := ParseCmdline("console=ttyS0 podboot.server=https://198.51.100.10:8443 podboot.token=fetch podboot.disk=vda")
	if err != nil || !p.Fetch {
		t.Fatalf("%+v %v", p, err)
	}
	for _, tt := range []struct{ name, body, err string }{
		{"ok", "podboot.pod=pod-a podboot.mac=52:54:00:AA:bb:01 podboot.token=pbh_x podboot.server=https://203.0.113.9:1 podboot.disk=sdb\n", ""},
		{"no token", "podboot.pod=pod-a podboot.mac=52:54:00:aa:bb:01", "token"},
		{"fetch again", "podboot.pod=pod-a podboot.mac=52:54:00:aa:bb:01 podboot.token=fetch", "token"},
		{"no MAC", "podboot.pod=pod-a podboot.token=pbh_x", "MAC"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := p.WithHostParams(tt.body)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || q.Pod != "pod-a" || q.MAC != "52:54:00:aa:bb:01" || q.Token != "pbh_x" || q.Fetch ||
				q.Server.Host != "198.51.100.10:8443" || q.Disk != "vda" {
				t.Fatalf("q = %+v, %v", q, err)
			}
		})
	}
}

// FuzzWithHostParams: any answer from the server is taken or refused with an error,
// never a panic, and an accepted one always names a MAC and a token.
func FuzzWithHostParams(f *testing.F) {
	f.Add("podboot.pod=pod-a podboot.mac=52:54:00:aa:bb:01 podboot.token=pbh_x\n")
	f.Add("podboot.mac= podboot.token=fetch")
	p, err := ParseCmdline("podboot.server=https://198.51.100.10:8443 podboot.token=fetch")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		q, err := p.WithHostParams(body)
		if err == nil && (q.MAC == "" || q.Token == "" || q.Token == TokenFetch || q.Server.Host != "198.51.100.10:8443") {
			t.Fatalf("accepted %q as %+v", body, q)
		}
	})
}
