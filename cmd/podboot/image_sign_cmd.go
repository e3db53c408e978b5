package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/imagesign"
)

// newImageSignCmd builds `podboot image sign`: a detached CMS signature
// (DER, SHA-256, no signed attributes) that podboot, the agent, iPXE's
// imgverify and `openssl cms -verify -binary` all accept.
func newImageSignCmd() *cobra.Command {
	var certFile, keyFile, chainFile, out string
	cmd := &cobra.Command{
		Use:   "sign --cert SIGNER.pem --key SIGNER.key [--chain CHAIN.pem] FILE [-o FILE.p7s]",
		Short: "Sign an image with a detached CMS signature",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if certFile == "" || keyFile == "" {
				return fmt.Errorf("--cert and --key are required")
			}
			certs, err := imagesign.LoadCertificates(certFile)
			if err != nil {
				return err
			}
			key, err := imagesign.LoadPrivateKey(keyFile)
			if err != nil {
				return err
			}
			chain := certs[1:] // a bundle file may carry the intermediates after the signer
			if chainFile != "" {
				more, err := imagesign.LoadCertificates(chainFile)
				if err != nil {
					return err
				}
				chain = append(chain, more...)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("opening image: %w", err)
			}
			defer f.Close()
			sig, err := imagesign.Sign(cmd.Context(), f, certs[0], key, chain)
			if err != nil {
				return fmt.Errorf("signing %s: %w", args[0], err)
			}
			if out == "" {
				out = args[0] + ".p7s"
			}
			if err := writeSignatureFile(out, sig, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signature: %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certFile, "cert", "", "PEM signer certificate (may be followed by intermediates)")
	f.StringVar(&keyFile, "key", "", "PEM private key of the signer")
	f.StringVar(&chainFile, "chain", "", "PEM intermediates to embed in the signature")
	f.StringVarP(&out, "output", "o", "", "signature file (default FILE.p7s)")
	return cmd
}

// newImageVerifyCmd builds `podboot image verify`: it exits non-zero and
// names the reason when the signature is refused.
func newImageVerifyCmd() *cobra.Command {
	var rootFile string
	var size int64
	cmd := &cobra.Command{
		Use:   "verify --root-ca ROOT.pem [--size BYTES] FILE.p7s FILE",
		Short: "Verify an image against its detached signature",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootFile == "" {
				return fmt.Errorf("--root-ca is required")
			}
			roots, err := imagesign.LoadCertPool(rootFile)
			if err != nil {
				return err
			}
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("reading signature: %w", err)
			}
			f, err := os.Open(args[1])
			if err != nil {
				return fmt.Errorf("opening image: %w", err)
			}
			defer f.Close()
			var opts []imagesign.VerifyOption
			if cmd.Flags().Changed("size") {
				opts = append(opts, imagesign.WithExpectedSize(size))
			}
			res, err := imagesign.Verify(cmd.Context(), imagesign.DecodeSignature(raw), f, roots, time.Now(), opts...)
			if err != nil {
				if r := imagesign.ReasonOf(err); r != "" {
					return fmt.Errorf("%s: verification FAILED (%s): %w", args[1], r, err)
				}
				return fmt.Errorf("%s: %w", args[1], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK, signed by %q (sha256 %x, %d bytes)\n",
				args[1], res.Signer.Subject.CommonName, res.Digest, res.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootFile, "root-ca", "", "PEM file of the trusted root CA(s)")
	cmd.Flags().Int64Var(&size, "size", 0, "size in bytes the signed image must have (from a build manifest): a shorter FILE is refused as a truncated file instead of a digest mismatch")
	return cmd
}

// writeSignatureFile writes data next to name and renames it into place, so
// that an interrupted run never leaves a half-written signature.
func writeSignatureFile(name string, data []byte, perm os.FileMode) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
