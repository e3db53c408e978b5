package stage1

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// AgentPackage is the import path of the stage1 agent.
const AgentPackage = "github.com/podboot/podboot/cmd/podboot-agent"

// BuildAgent compiles the agent statically for linux/amd64 into out. It needs the Go
// toolchain and podboot's source (run it from the module); `make build` does the same
// and embeds the result in podboot (see PrepareAgent). -trimpath and no VCS stamp keep
// the binary reproducible; the Makefile uses the same flags.
func BuildAgent(ctx context.Context, srcDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, AgentPackage)
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the agent (%s): %w: %s", AgentPackage, err, strings.TrimSpace(string(b)))
	}
	return nil
}
