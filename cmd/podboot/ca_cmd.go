package main

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/imagesign"
)

// defaultPKIDir is where podboot keeps its CA: $PODBOOT_DATA_DIR/pki, or
// /var/lib/podboot/pki when the variable is unset.
func defaultPKIDir() string {
	if d := os.Getenv("PODBOOT_DATA_DIR"); d != "" {
		return filepath.Join(d, "pki")
	}
	return "/var/lib/podboot/pki"
}

// newCACmd builds `podboot ca`: the certificate authority behind podboot's
// HTTPS certificate and the image signers' certificates.
func newCACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Manage podboot's certificate authority",
		Long: "Manage the CA that signs podboot's HTTPS certificate and the code-signing\n" +
			"certificates used to sign images. The CA lives in --dir (default\n" +
			"$PODBOOT_DATA_DIR/pki, else /var/lib/podboot/pki).",
	}
	cmd.AddCommand(newCAInitCmd(), newCAIssueCmd(), newCAImportCmd(), newCAShowCmd())
	return cmd
}

func newCAInitCmd() *cobra.Command {
	var (
		dir, cn, keyType string
		names            []string
		force            bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new root CA (and optionally the server certificate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = defaultPKIDir()
			}
			kt, err := imagesign.ParseKeyType(keyType)
			if err != nil {
				return err
			}
			var opts []imagesign.CAOption
			if force {
				opts = append(opts, imagesign.WithForce())
			}
			p, err := imagesign.InitCA(dir, cn, kt, opts...)
			if err != nil {
				return fmt.Errorf("%w (use --force to replace it)", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "CA certificate: %s\n", p.CACertFile())
			if len(names) > 0 {
				certFile, _, err := p.EnsureServerCert(names)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "server certificate: %s\n", certFile)
			}
			fmt.Fprintf(out, "fingerprint (SHA-256): %s\n", caFingerprint(p.CACert()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "PKI directory (default $PODBOOT_DATA_DIR/pki, else /var/lib/podboot/pki)")
	f.StringVar(&cn, "cn", "podboot root CA", "common name of the CA")
	f.StringVar(&keyType, "key-type", string(imagesign.KeyRSA), "key type: rsa (RSA-3072) or ecdsa (P-256)")
	f.StringSliceVar(&names, "name", nil, "DNS name or IP of the server certificate to issue too (repeatable)")
	f.BoolVar(&force, "force", false, "replace an existing CA (certificates it issued stop verifying)")
	return cmd
}

func newCAIssueCmd() *cobra.Command {
	var (
		dir, out, name, sbName, keyType string
		days                            int
	)
	cmd := &cobra.Command{
		Use:   "issue --code-signing NAME | --secure-boot NAME",
		Short: "Issue a code-signing certificate for image signing, or a Secure Boot key",
		Long: `--code-signing NAME issues a certificate from podboot's CA for signing images.
--secure-boot NAME writes a new self-signed RSA-2048 Secure Boot key (NAME.key, NAME.pem,
and NAME.cer in DER for enrolment in each server's db) to sign stage1 UKIs with
(podboot stage1 uki); docs/secure-boot.md says how to enrol it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = defaultPKIDir()
			}
			if days <= 0 {
				return fmt.Errorf("--days must be positive, got %d", days)
			}
			if sbName != "" {
				return issueSecureBootKey(cmd, sbName, cmp.Or(out, dir), days)
			}
			if name == "" {
				return fmt.Errorf("--code-signing NAME or --secure-boot NAME is required")
			}
			kt, err := imagesign.ParseKeyType(keyType)
			if err != nil {
				return err
			}
			p, err := imagesign.OpenCA(dir)
			if err != nil {
				return err
			}
			certFile, keyFile, err := p.IssueCodeSigning(name, out, kt, time.Duration(days)*24*time.Hour)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate: %s\nkey: %s\n", certFile, keyFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "code-signing", "", "name of the signer (file names NAME.pem and NAME.key)")
	f.StringVar(&sbName, "secure-boot", "", "name of a new Secure Boot key (NAME.key, NAME.pem, NAME.cer)")
	f.StringVar(&dir, "dir", "", "PKI directory (default $PODBOOT_DATA_DIR/pki, else /var/lib/podboot/pki)")
	f.StringVar(&out, "out", "", "directory for NAME.pem and NAME.key (default: the PKI directory)")
	f.StringVar(&keyType, "key-type", string(imagesign.KeyRSA), "key type: rsa (RSA-3072, for iPXE) or ecdsa (P-256)")
	f.IntVar(&days, "days", 365, "validity in days")
	return cmd
}

func newCAImportCmd() *cobra.Command {
	var (
		dir, certFile, keyFile string
		force                  bool
	)
	cmd := &cobra.Command{
		Use:   "import --cert CA.pem --key CA.key",
		Short: "Use an existing root CA instead of generating one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = defaultPKIDir()
			}
			if certFile == "" || keyFile == "" {
				return fmt.Errorf("--cert and --key are required")
			}
			var opts []imagesign.CAOption
			if force {
				opts = append(opts, imagesign.WithForce())
			}
			p, err := imagesign.ImportCA(dir, certFile, keyFile, opts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA certificate: %s\nfingerprint (SHA-256): %s\n", p.CACertFile(), caFingerprint(p.CACert()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&certFile, "cert", "", "PEM certificate of the CA")
	f.StringVar(&keyFile, "key", "", "PEM private key of the CA (unencrypted)")
	f.StringVar(&dir, "dir", "", "PKI directory (default $PODBOOT_DATA_DIR/pki, else /var/lib/podboot/pki)")
	f.BoolVar(&force, "force", false, "replace an existing CA")
	return cmd
}

// caCertInfo is what `ca show` reports about one certificate.
type caCertInfo struct {
	File        string    `json:"file"`
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Serial      string    `json:"serial"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	KeyType     string    `json:"key_type"`
	Fingerprint string    `json:"sha256_fingerprint"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	IPAddresses []string  `json:"ip_addresses,omitempty"`
}

func newCAShowCmd() *cobra.Command {
	var dir, output string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the CA (and server) certificates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				dir = defaultPKIDir()
			}
			p, err := imagesign.OpenCA(dir)
			if err != nil {
				return err
			}
			infos := map[string]caCertInfo{"ca": caDescribeCert(p.CACertFile(), p.CACert())}
			serverFile := filepath.Join(p.Dir, "server.pem")
			if certs, err := imagesign.LoadCertificates(serverFile); err == nil {
				infos["server"] = caDescribeCert(serverFile, certs[0])
			}
			return caPrintCertInfos(cmd.OutOrStdout(), output, infos)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "PKI directory (default $PODBOOT_DATA_DIR/pki, else /var/lib/podboot/pki)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func caPrintCertInfos(w io.Writer, format string, infos map[string]caCertInfo) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	case "text", "":
		for _, role := range []string{"ca", "server"} {
			i, ok := infos[role]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%s certificate: %s\n  subject:     %s\n  issuer:      %s\n  serial:      %s\n  valid:       %s to %s\n  key:         %s\n  fingerprint: %s\n",
				role, i.File, i.Subject, i.Issuer, i.Serial,
				i.NotBefore.Format(time.RFC3339), i.NotAfter.Format(time.RFC3339), i.KeyType, i.Fingerprint)
			if names := append(append([]string{}, i.DNSNames...), i.IPAddresses...); len(names) > 0 {
				fmt.Fprintf(w, "  names:       %s\n", strings.Join(names, ", "))
			}
		}
		return nil
	}
	return fmt.Errorf("unknown output format %q (want text or json)", format)
}

func caDescribeCert(file string, c *x509.Certificate) caCertInfo {
	i := caCertInfo{
		File: file, Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), KeyType: c.PublicKeyAlgorithm.String(),
		Fingerprint: caFingerprint(c), DNSNames: c.DNSNames,
	}
	for _, ip := range c.IPAddresses {
		i.IPAddresses = append(i.IPAddresses, ip.String())
	}
	return i
}

// caFingerprint is the SHA-256 of the certificate's DER, colon-separated hex.
func caFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}
