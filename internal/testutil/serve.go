package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildPodboot builds the podboot binary once per test binary run into dir and returns
// its path. Tests drive the real binary, as an operator would.
func BuildPodboot(t testing.TB) string {
	t.Helper()
	return buildOnce(t, "github.com/podboot/podboot/cmd/podboot", "podboot")
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

func buildOnce(t testing.TB, pkg, name string) string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "podboot-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// WaitFor polls cond until it is true or the deadline passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
		runtime.Gosched()
	}
}

// FreeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Serve is a running `podboot serve`.
type Serve struct {
	Cmd     *exec.Cmd
	DataDir string
	Server  string // https://127.0.0.1:PORT
	log     *syncBuffer
	done    chan struct{}
	err     error
}

// Log is what the server wrote so far.
func (s *Serve) Log() string { return s.log.String() }

// Wait waits for the process to end and returns its error.
func (s *Serve) Wait(timeout time.Duration) error {
	select {
	case <-s.done:
		return s.err
	case <-time.After(timeout):
		return fmt.Errorf("podboot serve did not exit within %s", timeout)
	}
}

// Stop sends SIGTERM and waits.
func (s *Serve) Stop(t testing.TB) error {
	t.Helper()
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	return s.Wait(20 * time.Second)
}

// StartServe runs `podboot serve` on dataDir with the management API on a free loopback
// port, and waits until the API answers. extra are more flags.
func StartServe(t testing.TB, bin, dataDir string, extra ...string) *Serve {
	t.Helper()
	port := FreeTCPPort(t)
	s := startServe(t, bin, dataDir, port, extra...)
	WaitFor(t, 30*time.Second, "podboot API to listen", func() bool {
		select {
		case <-s.done:
			t.Fatalf("podboot serve exited early: %v\n%s", s.err, s.Log())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return s
}

// StartServeNoWait starts `podboot serve` without waiting for it to listen (for tests
// that expect it to fail).
func StartServeNoWait(t testing.TB, bin, dataDir string, extra ...string) *Serve {
	t.Helper()
	return startServe(t, bin, dataDir, FreeTCPPort(t), extra...)
}

func startServe(t testing.TB, bin, dataDir string, port int, extra ...string) *Serve {
	args := append([]string{"serve", "--data-dir", dataDir, "--api-addr", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	cmd := exec.Command(bin, args...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	// The boot listeners default to :69, :8080 and :8443; tests run several serves at once.
	cmd.Env = append(os.Environ(), "PODBOOT_DATA_DIR="+dataDir,
		"PODBOOT_TFTP_ADDR=127.0.0.1:0", "PODBOOT_HTTP_ADDR=127.0.0.1:0", "PODBOOT_HTTPS_ADDR=127.0.0.1:0", "PODBOOT_DHCP_ADDR=127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Serve{Cmd: cmd, DataDir: dataDir, Server: fmt.Sprintf("https://127.0.0.1:%d", port), log: buf, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("podboot serve log:\n%s", s.Log())
		}
	})
	return s
}

// CLI runs podboot CLI commands against a server.
type CLI struct {
	Bin    string
	Server string
	Token  string
	CACert string
	Env    []string
}

// NewCLI returns a CLI using the admin token and CA podboot wrote into dataDir.
func NewCLI(t testing.TB, bin string, s *Serve) *CLI {
	t.Helper()
	WaitFor(t, 10*time.Second, "admin token file", func() bool {
		_, err := os.Stat(filepath.Join(s.DataDir, "admin.token"))
		return err == nil
	})
	tok, err := os.ReadFile(filepath.Join(s.DataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return &CLI{Bin: bin, Server: s.Server, Token: strings.TrimSpace(string(tok)), CACert: filepath.Join(s.DataDir, "pki", "ca.pem")}
}

// WithToken returns a copy of the CLI using another token.
func (c *CLI) WithToken(tok string) *CLI {
	cc := *c
	cc.Token = tok
	return &cc
}

// Run runs the CLI and returns stdout, stderr and the error.
func (c *CLI) Run(ctx context.Context, args ...string) (string, string, error) {
	full := append([]string{"--server", c.Server, "--token", c.Token, "--ca-cert", c.CACert}, args...)
	cmd := exec.CommandContext(ctx, c.Bin, full...)
	// Keep the caller's environment from pointing the CLI at another server.
	cmd.Env = append(filterEnv(os.Environ(), "PODBOOT_"), c.Env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// MustRun runs the CLI and fails the test on error.
func (c *CLI) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errs, err := c.Run(ctx, args...)
	if err != nil {
		t.Fatalf("podboot %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// MustFail runs the CLI, expects a non-zero exit, and returns stderr.
func (c *CLI) MustFail(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errs, err := c.Run(ctx, args...)
	if err == nil {
		t.Fatalf("podboot %s succeeded, want failure\nstdout: %s", strings.Join(args, " "), out)
	}
	return errs
}

func filterEnv(env []string, prefix string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
