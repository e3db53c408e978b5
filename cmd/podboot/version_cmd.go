package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/podboot/podboot/pkg/api"
)

func newVersionCmd(cf *clientFlags) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of this podboot and of the server it talks to",
		Long: `Prints this podboot's version and, unless --client, the version of the podboot serve
that --server, PODBOOT_SERVER or the client config names (GET /api/v1/version, any
token). It fails, saying so plainly, when that server cannot be reached: a connection
check for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "client  podboot %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if clientOnly {
				return nil
			}
			c, err := cf.client()
			if err != nil {
				return fmt.Errorf("server: %w (or pass --client for this podboot's version alone)", err)
			}
			var v api.VersionInfo
			if err := c.Do(cmd.Context(), "GET", "/api/v1/version", nil, &v); err != nil {
				return err
			}
			fmt.Fprintf(w, "server  podboot %s at %s (API %s)\n", v.Version, c.Base(), v.API)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print this podboot's version only (no server needed)")
	return cmd
}

// newGenDocsCmd writes the CLI reference (docs/cli/) from the command tree.
func newGenDocsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write the Markdown CLI reference into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			return doc.GenMarkdownTree(root, args[0])
		},
	}
}
