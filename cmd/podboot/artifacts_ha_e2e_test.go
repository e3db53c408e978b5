package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
)

// haPodYAML is a NAT pod (its boot files are not bound to a leased address, so a test
// on loopback passes the gate) that onboards blob.bin.
const haPodYAML = `name: pod-ha
nat: true
match:
  - giaddr: 198.51.100.1
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
serverAddress: 198.51.100.10
profile: default
artifacts: [blob.bin, os]
`

const haMAC = "52:54:00:ab:00:01"

// TestArtifactsOnEveryReplica drives real serves on a 3-member etcd: `image add`
// through replica A returns only once A and B hold the blob, and a signed stage2 pushed
// through A with a ci token travels with its signature. After A is SIGKILLed, a replica
// C that starts afterwards refuses B's copy while it is tampered with (digest mismatch:
// nothing stored, HTTP 404), then serves the exact bytes over HTTP (curl) and TFTP
// (atftp) once B's copy is right again, and the stage2 and its signature; its peer
// route takes replica tokens only. With only C live, a push that needs 2 copies fails
// at once with HTTP 503 naming the live and known replicas and leaves nothing behind.
// A deletion removes the record first, then every replica's file and holder key.
func TestArtifactsOnEveryReplica(t *testing.T) {
	for _, tool := range []string{"curl", "atftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (scripts/deps.sh installs it): %v", tool, err)
		}
	}
	etcd := testutil.StartEtcd(t, 3)
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	cfg := writeFile(t, files, "podboot.yaml", "artifacts:\n  minCopies: 2\n  copyTimeout: 5s\n")
	flags := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/ha/", "--config", cfg}
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a := testutil.StartServe(t, bin, dirA, append(flags, "--replica-name", "a")...)
	cliA := testutil.NewCLI(t, bin, a)
	b := testutil.StartServe(t, bin, dirB, append(flags, "--replica-name", "b")...)
	cliB := &testutil.CLI{Bin: bin, Server: b.Server, Token: cliA.Token, CACert: filepath.Join(dirB, "pki", "ca.pem")}
	cliA.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cliA.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", haPodYAML))
	cliA.MustRun(t, "host", "add", haMAC, "--pod", "pod-ha")

	content := randomBytes(t, 3<<20)
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	cliA.MustRun(t, "image", "add", "blob.bin:1", writeFile(t, files, "blob.bin", string(content)), "--kind", "kernel")
	for _, dir := range []string{dirA, dirB} { // no waiting: the add returned after both copies
		if got, err := os.ReadFile(blobFile(dir, digest)); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("after image add, %s holds no exact copy: %v", dir, err)
		}
	}
	// A signed stage2 through the CI push: its signature is a blob that travels too.
	stage2 := randomBytes(t, 256<<10)
	stage2File := writeFile(t, files, "os.img", string(stage2))
	sig := signWith(t, bin, files, "ci-signer", testutil.ServeCA(t, dirA), pushtest.Spec{}, stage2File)
	sigBytes, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	ci := cliA.WithToken(strings.TrimSpace(cliA.MustRun(t, "token", "create", "ci-bot", "--role", "ci")))
	ci.MustRun(t, "image", "push", "os:1", stage2File, "--sig", sig)

	if err := a.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait(10 * time.Second)

	// B's copy tampered with: C must not store or serve it.
	orig := blobFile(dirB, digest)
	tampered := append([]byte{}, content...)
	tampered[len(tampered)/2] ^= 0xff
	if err := os.Chmod(orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orig, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	c := testutil.StartServe(t, bin, dirC, append(flags, "--replica-name", "c")...)
	cliC := &testutil.CLI{Bin: bin, Server: c.Server, Token: cliA.Token, CACert: filepath.Join(dirC, "pki", "ca.pem")}
	url := "http://" + etcdBootHTTP(t, c) + "/boot/pod-ha/" + strings.ReplaceAll(haMAC, ":", "-") + "/blob.bin"
	testutil.WaitFor(t, 20*time.Second, "C to refuse B's tampered copy", func() bool {
		return strings.Contains(c.Log(), "does not match its digest")
	})
	if code, _ := curl(t, url); code != http.StatusNotFound {
		t.Fatalf("C served a blob only a tampered copy of exists: HTTP %d, want 404", code)
	}
	if _, err := os.Stat(blobFile(dirC, digest)); err == nil {
		t.Fatal("C stored the tampered copy")
	}
	testutil.WaitFor(t, 10*time.Second, "C to keep no temporary file of refused pulls", func() bool {
		tmp, err := os.ReadDir(filepath.Join(dirC, "artifacts", "tmp")) // pulls in flight come and go
		return err == nil && len(tmp) == 0
	})

	// B's copy right again: C serves the exact bytes, over HTTP and TFTP.
	if err := os.WriteFile(orig, content, 0o444); err != nil {
		t.Fatal(err)
	}
	code, got := curl(t, url)
	if code != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("C over HTTP after A died: HTTP %d, %d bytes, exact %v", code, len(got), bytes.Equal(got, content))
	}
	if got := atftpGet(t, etcdBootTFTP(t, c), "pod-ha/"+strings.ReplaceAll(haMAC, ":", "-")+"/blob.bin"); !bytes.Equal(got, content) {
		t.Fatalf("C over TFTP after A died: %d bytes, not the pushed ones", len(got))
	}

	// The peer route: replica tokens only (an admin may too).
	viewer := strings.TrimSpace(cliC.MustRun(t, "token", "create", "peeker", "--role", "viewer"))
	replicaTok, err := os.ReadFile(filepath.Join(dirC, "replica.token"))
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{"": "401", viewer: "403", strings.TrimSpace(string(replicaTok)): "200"} {
		out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", filepath.Join(dirC, "pki", "ca.pem"),
			"-H", "Authorization: Bearer "+tok, c.Server+"/api/v1/replica/blobs/"+digest).Output()
		if string(out) != want {
			t.Fatalf("peer route with token %.8q…: HTTP %s, want %s", tok, out, want)
		}
	}
	metrics := metricsOf(t, c)
	for _, want := range []string{`podboot_artifact_pulls_total{result="mismatch"}`, `podboot_artifact_pulls_total{result="ok"}`, "podboot_artifact_blobs_missing 0"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("C's /metrics lacks %s:\n%s", want, metrics)
		}
	}
	for file, want := range map[string][]byte{"os": stage2, "os.p7s": sigBytes} {
		if code, got := curl(t, strings.TrimSuffix(url, "blob.bin")+file); code != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("C serving the pushed %s: HTTP %d, exact %v", file, code, bytes.Equal(got, want))
		}
	}

	// Only C up: a push that needs 2 copies fails clearly and stores nothing.
	if err := b.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait(10 * time.Second)
	testutil.WaitFor(t, 20*time.Second, "C to see that B is gone", func() bool {
		out, _, err := cliC.Run(context.Background(), "replica", "list")
		return err == nil && !regexp.MustCompile(`(?m)^b\s`).MatchString(out)
	})
	msg := cliC.MustFail(t, "image", "add", "lonely.bin:1", writeFile(t, files, "lonely.bin", "only one replica is up"), "--kind", "kernel")
	for _, want := range []string{"HTTP 503", "lonely.bin@1 needs copies on 2 replicas and 1 are live (c; known replicas: a, b, c)", "the image was not added"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("push with one replica up: %s\nwant %q", msg, want)
		}
	}
	lonely := sha256.Sum256([]byte("only one replica is up"))
	testutil.WaitFor(t, 10*time.Second, "C to remove the refused push's blob", func() bool {
		_, err := os.Stat(blobFile(dirC, hex.EncodeToString(lonely[:])))
		return os.IsNotExist(err)
	})
	if out := cliC.MustRun(t, "image", "list"); strings.Contains(out, "lonely.bin") {
		t.Fatalf("the refused push is listed:\n%s", out)
	}
	cli := etcd.Client()
	if resp, err := cli.Get(context.Background(), "/ha/artifacts/", clientv3.WithPrefix(), clientv3.WithKeysOnly()); err != nil || len(resp.Kvs) != 2 {
		t.Fatalf("catalog after the refused push: %v, %d records, want blob.bin@1 and os@1", err, len(resp.Kvs))
	}

	// Deletion: B back; the record goes, then every replica's file and holder key.
	b = testutil.StartServe(t, bin, dirB, append(flags, "--replica-name", "b")...)
	cliB.Server = b.Server
	cliC.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", strings.Replace(haPodYAML, "artifacts: [blob.bin, os]\n", "", 1)))
	cliC.MustRun(t, "image", "delete", "blob.bin@1")
	testutil.WaitFor(t, 20*time.Second, "every replica to remove the deleted blob", func() bool {
		_, errB := os.Stat(blobFile(dirB, digest))
		_, errC := os.Stat(blobFile(dirC, digest))
		return os.IsNotExist(errB) && os.IsNotExist(errC)
	})
	testutil.WaitFor(t, 10*time.Second, "the holder keys to go", func() bool {
		resp, err := cli.Get(context.Background(), "/ha/artifact-holders/"+digest+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count <= 1 // A is dead and cannot remove its own
	})
	if out := cliB.MustRun(t, "image", "list"); strings.Contains(out, "blob.bin") {
		t.Fatalf("B still lists the deleted image:\n%s", out)
	}
}

// metricsOf is a serve's /metrics page, its replication lines only.
func metricsOf(t *testing.T, s *testutil.Serve) string {
	t.Helper()
	b, err := exec.Command("curl", "-sf", "--cacert", filepath.Join(s.DataDir, "pki", "ca.pem"), s.Server+"/metrics").Output()
	if err != nil {
		t.Fatalf("curl %s/metrics: %v", s.Server, err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "podboot_artifact_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// blobFile is where a data dir keeps a blob.
func blobFile(dataDir, digest string) string {
	return filepath.Join(dataDir, "artifacts", "blobs", "sha256", digest[:2], digest)
}

// curl fetches url with curl and returns the status and body.
func curl(t *testing.T, url string) (int, []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "body")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "curl", "-s", "-o", out, "-w", "%{http_code}", url).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", url, err)
	}
	body, _ := os.ReadFile(out)
	var code int
	for _, ch := range strings.TrimSpace(string(b)) {
		code = code*10 + int(ch-'0')
	}
	return code, body
}

// atftpGet fetches one file with atftp.
func atftpGet(t *testing.T, addr, remote string) []byte {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out := filepath.Join(t.TempDir(), "tftp")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, "atftp", "--option", "blksize 1428", "-g", "-r", remote, "-l", out, host, port).CombinedOutput(); err != nil {
		t.Fatalf("atftp %s: %v\n%s", remote, err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return b
}

// etcdBootTFTP is the address of a serve's TFTP listener, from its log.
func etcdBootTFTP(t *testing.T, s *testutil.Serve) string {
	t.Helper()
	re := regexp.MustCompile(`tftp listening.*addr=(127\.0\.0\.1:[0-9]+)`)
	var addr string
	testutil.WaitFor(t, 10*time.Second, "the TFTP listener", func() bool {
		if m := re.FindStringSubmatch(s.Log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}
