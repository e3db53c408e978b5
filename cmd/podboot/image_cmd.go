package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush"
)

// imageAdminCmds are the artifact-store commands of `podboot image`: add, list, show,
// delete (sign, verify and push are the image-signing commands).
func imageAdminCmds(cf *clientFlags) []*cobra.Command {
	return []*cobra.Command{newImageAddCmd(cf), newImageListCmd(cf), newImageShowCmd(cf), newImageDeleteCmd(cf)}
}

func newImageAddCmd(cf *clientFlags) *cobra.Command {
	var name, version, kind string
	cmd := &cobra.Command{
		Use:   "add NAME:VERSION FILE --kind bootloader|kernel|initrd|package",
		Short: "Load a stage1 file (bootloader, kernel, initrd) or package into the artifact store (admin)",
		Long: `Streams FILE to podboot as NAME:VERSION (the shape 'podboot image push' takes), which
stores it by SHA-256 (deduplicated across pods and versions). Profiles then reference it
as NAME or NAME@VERSION; a pod serves only what its profiles and its artifacts list
reference. Versions are immutable: add a new version to change a file. Signed stage2
images go through 'podboot image push'.

'image add FILE' alone stores FILE as its base name, version 1. The flags --name and
--version of that older form still work but are deprecated.`,
		Example: "  podboot image add undionly.kpxe:1 /usr/lib/ipxe/undionly.kpxe --kind bootloader",
		Args:    cobra.RangeArgs(1, 2),
	}
	cmd.Flags().StringVar(&name, "name", "", "artifact name (default: the file's base name)")
	cmd.Flags().StringVar(&version, "version", "1", "artifact version")
	cmd.Flags().StringVar(&kind, "kind", "", "bootloader, kernel, initrd or package")
	_ = cmd.MarkFlagRequired("kind")
	_ = cmd.Flags().MarkDeprecated("name", "give NAME:VERSION FILE instead")
	_ = cmd.Flags().MarkDeprecated("version", "give NAME:VERSION FILE instead")
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		file := args[len(args)-1]
		if len(args) == 2 {
			if cmd.Flags().Changed("name") || cmd.Flags().Changed("version") {
				return &usageError{cmd: cmd, err: fmt.Errorf("give the name and version once: NAME:VERSION FILE, without --name or --version")}
			}
			var err error
			if name, version, err = imagepush.ParseRef(args[0]); err != nil {
				return &usageError{cmd: cmd, err: err}
			}
		}
		if name == "" {
			name = filepath.Base(file)
		}
		if err := artifact.ValidName("image name", name); err != nil {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open %s: %w", file, err)
		}
		defer f.Close()
		c, err := cf.client()
		if err != nil {
			return err
		}
		q := url.Values{"name": {name}, "version": {version}, "kind": {kind}}
		var a artifact.Artifact
		if err := c.Do(cmd.Context(), "POST", "/api/v1/images?"+q.Encode(), f, &a); err != nil {
			return err
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", a, nil, nil)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "image %s added (%s, %d bytes, sha256 %s)\n", a.Ref(), a.Kind, a.Size, a.Digest)
		return nil
	}
	return cmd
}

func imageRows(as []artifact.Artifact) func() [][]string {
	return func() [][]string {
		var rows [][]string
		for _, a := range as {
			signer := "-"
			if a.Signed() {
				signer = orDash(a.Signer)
			}
			rows = append(rows, []string{a.Name, a.Version, string(a.Kind), strconv.FormatInt(a.Size, 10), a.Digest[:16], signer, a.CreatedAt.Format("2006-01-02 15:04")})
		}
		return rows
	}
}

var imageHeader = []string{"NAME", "VERSION", "KIND", "SIZE", "SHA256", "SIGNER", "CREATED"}

func newImageListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the artifact store", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var as []artifact.Artifact
		if err := c.Do(cmd.Context(), "GET", "/api/v1/images", nil, &as); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, as, imageHeader, imageRows(as))
	}
	return cmd
}

func newImageShowCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME[@VERSION]", Short: "Show an artifact's versions, digests and signers", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var as []artifact.Artifact
		if err := c.Do(cmd.Context(), "GET", "/api/v1/images/"+url.PathEscape(args[0]), nil, &as); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, as, imageHeader, imageRows(as))
	}
	return cmd
}

func newImageDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME@VERSION",
		Short: "Delete an artifact version no profile or pod uses (admin); unused bytes are collected",
		Long: `Delete an artifact version (admin); unused bytes are collected.

A version a profile, pod or host pins (NAME@VERSION) is in use, and so is the last
version of a name they reference by bare name. The newest of several versions is not:
deleting it makes bare-name references use the next newest, which is how a bad push is
taken back without pinning every profile first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/images/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "image %s deleted\n", args[0])
			return nil
		},
	}
}
