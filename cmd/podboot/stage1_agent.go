package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/internal/agentbin"
	"github.com/podboot/podboot/pkg/stage1"
)

// prepareAgent puts the agent for stage1 build into dir (embedded, or built from src)
// and says on stderr which one it is.
func prepareAgent(cmd *cobra.Command, src, dir string) (string, error) {
	path, from, err := stage1.PrepareAgent(cmd.Context(), agentbin.Static(), src, dir)
	if err != nil {
		return "", err
	}
	if from == stage1.AgentBuilt {
		fmt.Fprintf(cmd.ErrOrStderr(), "podboot-agent: %s in %s (this podboot carries none: `make build` embeds it)\n", from, src)
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "podboot-agent: %s\n", from)
	}
	return path, nil
}
