package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/uki"
)

func newStage1UKICmd() *cobra.Command {
	var in uki.Input
	var key, cert, out string
	cmd := &cobra.Command{
		Use:   "uki --kernel VMLINUZ --initrd INITRD --cmdline ARGS --key SB.key --cert SB.pem --out FILE.efi",
		Short: "Build stage1 as a signed Unified Kernel Image (Secure Boot full chain)",
		Long: `Builds one PE of systemd's EFI stub (Debian's systemd-boot-efi), the kernel, the initrd
and the kernel command line (objcopy), and signs it with the operator's Secure Boot key
(sbsign). Firmware with that key's certificate in its db verifies all of stage1: kernel,
initrd (agent and pinned root CA) and command line. Push it with --kind bootloader and
name it in a profile with secureBoot: full and uki: NAME@VERSION (docs/secure-boot.md).

The command line is the same for every host: give it podboot.server=https://ADDR:PORT
and podboot.token=fetch (the agent fetches its pod, MAC and token over HTTPS from its
leased address), plus console and other kernel arguments. Without --key the image is
written unsigned.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if in.Kernel == "" || in.Initrd == "" || out == "" {
				return fmt.Errorf("--kernel, --initrd and --out are required")
			}
			if (key == "") != (cert == "") {
				return fmt.Errorf("--key and --cert go together")
			}
			if key == "" {
				return uki.Build(ctx, in, out)
			}
			unsigned := out + ".unsigned"
			defer os.Remove(unsigned)
			if err := uki.Build(ctx, in, unsigned); err != nil {
				return err
			}
			if err := uki.Sign(ctx, unsigned, key, cert, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s, signed by %s\n", out, cert)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Kernel, "kernel", "", "kernel (vmlinuz from podboot stage1 build)")
	f.StringVar(&in.Initrd, "initrd", "", "initrd (initrd.img from podboot stage1 build)")
	f.StringVar(&in.Cmdline, "cmdline", "", "kernel command line, signed with the image")
	f.StringVar(&in.Stub, "stub", uki.DefaultStub, "systemd EFI stub")
	f.StringVar(&key, "key", "", "Secure Boot signing key (PEM, unencrypted)")
	f.StringVar(&cert, "cert", "", "Secure Boot signing certificate (PEM)")
	f.StringVar(&out, "out", "", "UKI to write")
	return cmd
}
