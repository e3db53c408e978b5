package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/stage1"
)

func newStage1Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stage1", Short: "Build the stage1 initrd (podboot-agent as /init, pinned root CA, drivers)"}
	cmd.AddCommand(newStage1BuildCmd(), newStage1UKICmd())
	return cmd
}

func newStage1BuildCmd() *cobra.Command {
	var opts stage1.Options
	var name, version, src, kernelPkg, cache string
	cmd := &cobra.Command{
		Use:   "build [--kernel-package PKG | --modules-deb FILE.deb | --kernel VMLINUZ --modules DIR] --root-ca ROOT.pem --out DIR",
		Short: "Build a reproducible stage1 initrd and copy the kernel beside it",
		Long: `Builds OUT/initrd.img (newc cpio, gzip) with the static podboot-agent as /init, the root CA
the agent pins (the only CA it trusts for stage2 signatures and the HTTPS server), and the
NIC and storage drivers of real servers and VMs plus every --module, each with its
dependencies and soft dependencies (from .modinfo; .ko.xz/.ko.zst are decompressed), and
the modalias table the agent loads drivers by. OUT/vmlinuz is the kernel.

Without --modules or --modules-deb the kernel is Debian's generic kernel
(--kernel-package, default linux-image-amd64), fetched once with apt-get download into
--kernel-cache. The report says per requested module: packed, built in, or absent.
--firmware-deb (repeatable) packs the firmware files the shipped modules list (ice, qed,
tg3, r8169) from Debian firmware-* packages; modules that will lack firmware are named.

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
			if opts.ModulesDir == "" && opts.ModulesDeb == "" {
				if cache == "" {
					dir, err := os.UserCacheDir()
					if err != nil {
						return fmt.Errorf("no --kernel-cache and no user cache directory: %w", err)
					}
					cache = filepath.Join(dir, "podboot", "kernels")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "fetching %s into %s...\n", kernelPkg, cache)
				deb, err := stage1.FetchKernelDeb(ctx, kernelPkg, cache)
				if err != nil {
					return err
				}
				opts.ModulesDeb = deb
			}
			res, err := stage1.Build(ctx, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, n := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			for _, m := range res.Requested {
				line := fmt.Sprintf("module  %-14s %s", m.Name, m.Status)
				if len(m.MissingFirmware) > 0 {
					line += fmt.Sprintf(" (lacks %d firmware files)", len(m.MissingFirmware))
				}
				fmt.Fprintln(w, line)
			}
			if len(res.Firmware) > 0 {
				fmt.Fprintf(w, "firmware (%d files): %v\n", len(res.Firmware), res.Firmware)
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
	f.StringVar(&opts.Kernel, "kernel", "", "kernel image (vmlinuz) to ship; required with --modules")
	f.StringVar(&opts.ModulesDir, "modules", "", "kernel module tree, e.g. /lib/modules/VERSION")
	f.StringVar(&opts.ModulesDeb, "modules-deb", "", "linux-image-*.deb to take modules (and the kernel) from")
	f.StringVar(&opts.RootCA, "root-ca", "", "PEM root CA the agent pins (podboot's DATA_DIR/pki/ca.pem, or your image-signing root)")
	f.StringVar(&opts.OutDir, "out", "", "output directory")
	f.StringVar(&opts.Agent, "agent", "", "prebuilt static podboot-agent (default: the one embedded in podboot)")
	f.StringSliceVar(&opts.Modules, "module", nil, "extra module to ship (repeatable), with its dependencies")
	f.StringSliceVar(&opts.FirmwareDebs, "firmware-deb", nil, "Debian firmware-*.deb to take the shipped modules' firmware from (repeatable)")
	f.StringVar(&kernelPkg, "kernel-package", stage1.DefaultKernelPackage, "Debian kernel metapackage to fetch when neither --modules nor --modules-deb is given")
	f.StringVar(&cache, "kernel-cache", "", "directory the fetched kernel package is kept in (default: USER_CACHE_DIR/podboot/kernels)")
	f.StringVar(&src, "src", ".", "podboot source directory to build the agent in, when podboot carries none")
	f.StringVar(&name, "name", "stage1", "artifact name prefix in the printed registration commands")
	f.StringVar(&version, "version", "1", "artifact version in the printed registration commands")
	for _, req := range []string{"root-ca", "out"} {
		_ = cmd.MarkFlagRequired(req)
	}
	cmd.MarkFlagsMutuallyExclusive("modules", "modules-deb")
	return cmd
}
