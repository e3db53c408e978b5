package stage1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoAgent says there is no agent to put into the initrd: the podboot binary carries
// none and no source tree with Go is at hand.
var ErrNoAgent = errors.New("no podboot-agent")

// AgentSource says where the agent of a stage1 build came from, for the operator.
type AgentSource string

// Where the agent came from.
const (
	AgentEmbedded AgentSource = "embedded in this podboot binary"
	AgentBuilt    AgentSource = "built from source"
)

// PrepareAgent writes the agent into dir and returns its path: the embedded agent when
// the podboot binary carries one (`make build`), else the agent compiled from podboot's
// source in srcDir when srcDir is that module and Go is installed (a `go build` podboot
// run inside the tree). Otherwise it returns ErrNoAgent with what to do.
func PrepareAgent(ctx context.Context, embedded []byte, srcDir, dir string) (string, AgentSource, error) {
	out := filepath.Join(dir, "podboot-agent")
	if len(embedded) > 0 {
		if err := os.WriteFile(out, embedded, 0o755); err != nil {
			return "", "", fmt.Errorf("write the embedded agent: %w", err)
		}
		return out, AgentEmbedded, nil
	}
	if !isPodbootModule(srcDir) {
		return "", "", fmt.Errorf("%w: this podboot was built without one (go build, not make build) and %s is not podboot's source tree: pass --agent FILE (a static podboot-agent), or install a podboot built with `make build`", ErrNoAgent, srcDir)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", "", fmt.Errorf("%w: this podboot was built without one (go build, not make build) and Go is not in PATH to build it from %s: pass --agent FILE, or use a podboot built with `make build`", ErrNoAgent, srcDir)
	}
	if err := BuildAgent(ctx, srcDir, out); err != nil {
		return "", "", err
	}
	return out, AgentBuilt, nil
}

// isPodbootModule reports whether dir holds the go.mod of podboot's module.
func isPodbootModule(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(mod) == strings.TrimSuffix(AgentPackage, "/cmd/podboot-agent")
		}
	}
	return false
}
