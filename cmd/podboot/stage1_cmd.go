package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/stage1"
)

func newStage1Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stage1", Short: "Build the stage1 initrd (podboot-agent as /init, pinned root CA, drivers)"}
	cmd.AddCommand(newStage1BuildCmd())
	return cmd
}

func newStage1BuildCmd() *cobra.Command {
	var opts stage1.Options
	var name, version, src string
	cmd := &cobra.Command{
		Use:   "build --kernel VMLINUZ (--modules DIR | --modules-deb FILE.deb) --root-ca ROOT.pem --out DIR",
		Short: "Build a reproducible stage1 initrd and copy the kernel beside it",
		Long: `Builds OUT/initrd.img (newc cpio, gzip) with the static podboot-agent as /init, the root CA
the agent pins (the only CA it trusts for stage2 signatures and the HTTPS server), and the
kernel modules for virtio and common server NICs (absent ones are skipped with a note),
plus every --module, each with its .modinfo dependencies. OUT/vmlinuz is the kernel.

The same inputs give the same bytes, so anyone can rebuild and compare what podboot serves.
Without --agent it uses the agent embedded in podboot by 'make build'; a podboot built
with plain 'go build' compiles it from --src instead (needs Go and podboot's source).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if opts.Agent == "" {
				tmp, err := os.MkdirTemp("", "podboot-agent-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				if opts.Agent, err = prepareAgent(cmd, src, tmp); err != nil {
					return err
				}
			}
			res, err := stage1.Build(ctx, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, n := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			fmt.Fprintf(w, "initrd  %s  %d bytes  sha256 %s\n", res.Initrd, res.InitrdSize, res.InitrdSHA256)
			fmt.Fprintf(w, "kernel  %s  %d bytes  sha256 %s\n", res.Kernel, res.KernelSize, res.KernelSHA256)
			fmt.Fprintf(w, "modules (load order): %v\n", res.Modules)
			fmt.Fprintf(w, "\nsign and push them (CI token), then point a profile at them:\n")
			for _, f := range []struct{ kind, file string }{{"kernel", res.Kernel}, {"initrd", res.Initrd}} {
				fmt.Fprintf(w, "  podboot image sign --cert SIGNER.pem --key SIGNER.key %s\n", f.file)
				fmt.Fprintf(w, "  podboot image push %s-%s:%s %s --sig %s.p7s --kind %s\n", name, f.kind, version, f.file, f.file, f.kind)
			}
			fmt.Fprintf(w, "  # profile: kernel: %s-kernel@%s  initrd: %s-initrd@%s\n", name, version, name, version)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kernel, "kernel", "", "kernel image (vmlinuz) to ship; optional with --modules-deb")
	f.StringVar(&opts.ModulesDir, "modules", "", "kernel module tree, e.g. /lib/modules/VERSION")
	f.StringVar(&opts.ModulesDeb, "modules-deb", "", "linux-image-*.deb to take modules (and the kernel) from")
	f.StringVar(&opts.RootCA, "root-ca", "", "PEM root CA the agent pins (podboot's DATA_DIR/pki/ca.pem, or your image-signing root)")
	f.StringVar(&opts.OutDir, "out", "", "output directory")
	f.StringVar(&opts.Agent, "agent", "", "prebuilt static podboot-agent (default: the one embedded in podboot)")
	f.StringSliceVar(&opts.Modules, "module", nil, "extra module to ship (repeatable), with its dependencies")
	f.StringVar(&src, "src", ".", "podboot source directory to build the agent in, when podboot carries none")
	f.StringVar(&name, "name", "stage1", "artifact name prefix in the printed registration commands")
	f.StringVar(&version, "version", "1", "artifact version in the printed registration commands")
	for _, req := range []string{"root-ca", "out"} {
		_ = cmd.MarkFlagRequired(req)
	}
	cmd.MarkFlagsMutuallyExclusive("modules", "modules-deb")
	cmd.MarkFlagsOneRequired("modules", "modules-deb")
	return cmd
}
