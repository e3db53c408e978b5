package docs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

const rcMark = "__DOCS_TEST_RC__"

// shell is one bash inside a namespace that runs commands one at a time, as a user
// types them into a terminal: cd, exports and background jobs carry over.
type shell struct {
	t     *testing.T
	stdin io.WriteCloser
	mu    sync.Mutex
	out   strings.Builder
	rcs   chan int
	done  chan struct{}
}

// startShell starts bash in ns with dir as its working directory and env as its whole
// environment; it is stopped (and its background jobs killed) when the test ends.
func startShell(t *testing.T, ns *testutil.NS, dir string, env []string) *shell {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): it ends before the cleanup below stops the shell gently.
	cmd := ns.Cmd(context.Background(), "bash", "--noprofile", "--norc")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, pw, pw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	s := &shell{t: t, stdin: stdin, rcs: make(chan int, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if rc, ok := strings.CutPrefix(sc.Text(), rcMark); ok {
				n, _ := strconv.Atoi(rc)
				s.rcs <- n
				continue
			}
			s.mu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		// Background jobs (podboot serve) end with the shell; they hold the pipe open.
		fmt.Fprintln(stdin, "kill $(jobs -p) 2>/dev/null; wait; exit 0")
		stdin.Close()
		if err := waitOr(cmd.Wait, 30*time.Second); err != nil {
			t.Logf("shell: %v", err)
		}
		pr.Close()
		if t.Failed() {
			t.Logf("shell output:\n%s", s.output())
		}
	})
	return s
}

func waitOr(wait func() error, d time.Duration) error {
	ch := make(chan error, 1)
	go func() { ch <- wait() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		return fmt.Errorf("did not exit within %s", d)
	}
}

func (s *shell) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// run types one command and returns its exit status and what the shell printed since.
// After a background command (`... &`) it waits, as a user would, for podboot's
// "podboot serving" line.
func (s *shell) run(command string, timeout time.Duration) (int, string) {
	s.t.Helper()
	before := len(s.output())
	if _, err := fmt.Fprintf(s.stdin, "%s\nrc=$?; printf '\\n%s%%s\\n' \"$rc\"\n", command, rcMark); err != nil {
		s.t.Fatalf("type %q: %v", command, err)
	}
	var rc int
	select {
	case rc = <-s.rcs:
	case <-s.done:
		s.t.Fatalf("the shell ended during %q:\n%s", command, s.output()[before:])
	case <-time.After(timeout):
		s.t.Fatalf("%q did not finish within %s:\n%s", command, timeout, s.output()[before:])
	}
	if c := strings.TrimSpace(stripComment(command)); strings.HasSuffix(c, "&") && !strings.HasSuffix(c, "&&") {
		testutil.WaitFor(s.t, time.Minute, "podboot serving (after "+command+")", func() bool {
			return strings.Contains(s.output()[before:], "podboot serving")
		})
	}
	return rc, s.output()[before:]
}
