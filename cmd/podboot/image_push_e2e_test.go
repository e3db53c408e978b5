package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
)

// pushEnv is a running `podboot serve` with CLIs for an admin, a ci and a viewer token,
// and the server's own CA (the default root CA for pushes).
type pushEnv struct {
	bin               string
	srv               *testutil.Serve
	admin, ci, viewer *testutil.CLI
	ca                *pushtest.Cert
}

func startPushServe(t *testing.T, dataDir, configYAML string) *pushEnv {
	t.Helper()
	bin := testutil.BuildPodboot(t)
	cfg := filepath.Join(t.TempDir(), "podboot.yaml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testutil.StartServe(t, bin, dataDir, "--config", cfg)
	admin := testutil.NewCLI(t, bin, srv)
	token := func(name, role string) *testutil.CLI {
		return admin.WithToken(strings.TrimSpace(admin.MustRun(t, "token", "create", name, "--role", role)))
	}
	return &pushEnv{bin: bin, srv: srv, admin: admin, ci: token("ci-bot", "ci"), viewer: token("watcher", "viewer"), ca: testutil.ServeCA(t, dataDir)}
}

// state is what a push may change, as an operator sees it: every file under
// DATA_DIR/artifacts (temporary files included) and the records `image list` shows.
func (e *pushEnv) state(t *testing.T) string {
	t.Helper()
	files := pushtest.Snapshot(t, filepath.Join(e.srv.DataDir, "artifacts"))
	return strings.Join(files, "\n") + "\n--- records\n" + e.admin.MustRun(t, "image", "list", "-o", "json")
}

func (e *pushEnv) assertUnchanged(t *testing.T, before string) {
	t.Helper()
	if after := e.state(t); after != before {
		t.Fatalf("the store changed:\n--- before\n%s\n--- after\n%s", before, after)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImagePushE2E drives `podboot image push` against a real `podboot serve` with a ci
// token: a push, an idempotent re-push, every refusal reason, a conflicting version, a
// viewer, an oversized upload and a connection cut half way — each failure leaving the
// store's files and records exactly as they were.
func TestImagePushE2E(t *testing.T) {
	const maxUpload = 4 << 20
	env := startPushServe(t, t.TempDir(), fmt.Sprintf("images:\n  maxUploadBytes: %d\n", maxUpload))
	work := t.TempDir()
	good, cases := refusalCases(t, env.bin, work, env.ca, randomBytes(t, 1<<20))

	out := env.ci.MustRun(t, "image", "push", "stage2:1.0", good.file, "--sig", good.sig)
	if !strings.Contains(out, "image stage2@1.0 pushed (stage2") {
		t.Fatalf("push said %q", out)
	}
	recs := listJSON[artifact.Artifact](t, env.admin, "image", "list")
	sum := sha256.Sum256(good.content)
	if len(recs) != 1 || recs[0].Kind != artifact.KindStage2 || recs[0].Digest != hex.EncodeToString(sum[:]) || !recs[0].Signed() || recs[0].Signer != "CN=ci" {
		t.Fatalf("records after push: %+v", recs)
	}
	if !strings.Contains(env.srv.Log(), `msg="image pushed" ref=stage2@1.0`) {
		t.Error("the push was not logged")
	}

	t.Run("same content again is a no-op", func(t *testing.T) {
		before := env.state(t)
		if out := env.ci.MustRun(t, "image", "push", "stage2:1.0", good.file, "--sig", good.sig); !strings.Contains(out, "unchanged") {
			t.Fatalf("re-push said %q", out)
		}
		env.assertUnchanged(t, before)
	})

	t.Run("ci may push and read image metadata, and do nothing else", func(t *testing.T) {
		if got := listJSON[artifact.Artifact](t, env.ci, "image", "list"); len(got) != 1 || got[0].Ref() != "stage2@1.0" {
			t.Errorf("ci image list: %+v", got)
		}
		if out := env.ci.MustRun(t, "image", "show", "stage2"); !strings.Contains(out, "CN=ci") {
			t.Errorf("ci image show: %q", out)
		}
		for _, args := range [][]string{{"pod", "list"}, {"token", "list"}, {"host", "list"}, {"image", "delete", "stage2@1.0"}} {
			if errs := env.ci.MustFail(t, args...); !strings.Contains(errs, "HTTP 403") {
				t.Errorf("ci %v: want 403, got %s", args, errs)
			}
		}
	})

	for _, c := range cases {
		t.Run("refused: "+c.name, func(t *testing.T) {
			before := env.state(t)
			args := append([]string{"image", "push", "stage2:2.0", c.file, "--sig", c.sig}, c.sizeArgs()...)
			errs := env.ci.MustFail(t, args...)
			if !strings.Contains(errs, c.reason) || !strings.Contains(errs, "HTTP 422") {
				t.Fatalf("want HTTP 422 naming %q, got:\n%s", c.reason, errs)
			}
			env.assertUnchanged(t, before)
		})
	}

	other := filepath.Join(work, "other.img")
	if err := os.WriteFile(other, randomBytes(t, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	otherSig := signFile(t, env.bin, work, other)
	big := filepath.Join(work, "big.img")
	if err := os.WriteFile(big, randomBytes(t, maxUpload+1), 0o644); err != nil {
		t.Fatal(err)
	}
	bigSig := signFile(t, env.bin, work, big)
	for _, c := range []struct {
		name string
		cli  *testutil.CLI
		args []string
		want []string
	}{
		{"other content under an existing version", env.ci, []string{"stage2:1.0", other, "--sig", otherSig}, []string{"HTTP 409", "versions are immutable"}},
		{"viewer token", env.viewer, []string{"stage2:3.0", good.file, "--sig", good.sig}, []string{"HTTP 403", "role viewer"}},
		{"over images.maxUploadBytes", env.ci, []string{"big:1", big, "--sig", bigSig}, []string{"HTTP 413", "images.maxUploadBytes"}},
	} {
		t.Run("refused: "+c.name, func(t *testing.T) {
			before := env.state(t)
			errs := c.cli.MustFail(t, append([]string{"image", "push"}, c.args...)...)
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, errs)
				}
			}
			env.assertUnchanged(t, before)
		})
	}

	t.Run("connection closed half way", func(t *testing.T) {
		before := env.state(t)
		interruptedPush(t, env, good, "intr")
		env.assertUnchanged(t, before)
	})
}

// signFile signs file with the ci signer refusalCases issued in dir.
func signFile(t *testing.T, bin, dir, file string) string {
	t.Helper()
	sig := file + ".p7s"
	if _, errs, err := runPodboot(t, bin, "image", "sign", "--cert", filepath.Join(dir, "ci.pem"), "--key", filepath.Join(dir, "ci.key"), file, "-o", sig); err != nil {
		t.Fatalf("sign %s: %v\n%s", file, err, errs)
	}
	return sig
}

// interruptedPush sends a valid push's headers and half its body over a raw TLS
// connection, waits until the server is writing the upload to a temporary file, and
// closes the connection; it returns when the server has logged the failed push.
func interruptedPush(t *testing.T, env *pushEnv, img signedImage, version string) {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(env.srv.DataDir, "pki", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(env.srv.Server, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sig, err := os.ReadFile(img.sig)
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "PUT /api/v1/images/stage2/%s?kind=stage2 HTTP/1.1\r\nHost: 127.0.0.1\r\n", version)
	fmt.Fprintf(&head, "Authorization: Bearer %s\r\nPodboot-Signature: %s\r\nContent-Length: %d\r\n\r\n", env.ci.Token, base64.StdEncoding.EncodeToString(sig), len(img.content))
	if _, err := conn.Write(append(head.Bytes(), img.content[:len(img.content)/2]...)); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(env.srv.DataDir, "artifacts", "tmp")
	testutil.WaitFor(t, 20*time.Second, "the upload to reach a temporary file", func() bool {
		ents, _ := os.ReadDir(tmp)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "ingest-") && fi.Size() > 0 {
				return true
			}
		}
		return false
	})
	conn.Close()
	ref := "ref=stage2@" + version
	testutil.WaitFor(t, 20*time.Second, "the server to log the interrupted push", func() bool {
		for _, l := range strings.Split(env.srv.Log(), "\n") {
			if strings.Contains(l, `msg="image push refused"`) && strings.Contains(l, ref) {
				return true
			}
		}
		return false
	})
}
