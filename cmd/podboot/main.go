// Command podboot is the central bare-metal provisioning server (`podboot serve`) and the
// CLI that operators and CI use to talk to it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "podboot:", explain(err))
		os.Exit(1)
	}
}

// explain turns API errors into one line an operator can act on.
func explain(err error) string {
	if ue, ok := asUsage(err); ok {
		return ue.explainUsage()
	}
	if msg, ok := unreachable(err); ok {
		return msg
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Status {
		case 401:
			return ae.Error() + " — check --token / PODBOOT_TOKEN"
		case 403:
			return ae.Error() + " — use a token with a role that may do this"
		}
		return ae.Error()
	}
	return err.Error()
}

func newRootCmd() *cobra.Command {
	cf := &clientFlags{}
	root := &cobra.Command{
		Use:   "podboot",
		Short: "Central bare-metal provisioning for many pods",
		Long: `podboot provisions bare-metal servers in many pods (sites) from one central process:
relayed DHCP, TFTP/HTTP(S) boot, signed stage2 images, kickstart, and PXE disable.

Run the server with 'podboot serve'; manage it with the other commands, which talk to
its management API (--server/--token/--ca-cert, PODBOOT_SERVER/PODBOOT_TOKEN/PODBOOT_CA_CERT,
or the client config it writes at first start: --client-config / PODBOOT_CLIENT_CONFIG).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cf.register(root)
	image := &cobra.Command{Use: "image", Short: "Sign, verify, push and manage images and boot artifacts"}
	image.AddCommand(newImageSignCmd(), newImageVerifyCmd(), newImagePushCmd(cf))
	image.AddCommand(imageAdminCmds(cf)...)
	root.AddCommand(
		newServeCmd(),
		newPodCmd(cf),
		newProfileCmd(cf),
		newHostCmd(cf),
		newTokenCmd(cf),
		newEventsCmd(cf),
		newCACmd(),
		newStoreCmd(),
		newReplicaCmd(cf),
		newBMCCmd(),
		newStage1Cmd(),
		image,
		newVersionCmd(cf),
		newGenDocsCmd(),
	)
	withUsageErrors(root)
	return root
}
