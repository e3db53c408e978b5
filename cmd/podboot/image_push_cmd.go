package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagepush"
	"github.com/podboot/podboot/pkg/imagesign"
)

// newImagePushCmd builds `podboot image push`: the CI path for signed images. The server
// verifies the signature against its root CA before it keeps anything.
func newImagePushCmd(cf *clientFlags) *cobra.Command {
	var sigFile, kind string
	var imageSize int64
	cmd := &cobra.Command{
		Use:   "push NAME:VERSION FILE --sig FILE.p7s [--kind stage2]",
		Short: "Push a signed image to podboot (ci or admin token)",
		Long: `Streams FILE to podboot with its detached CMS signature. The server checks the
signature's chain against its root CA before the upload starts, verifies the content while
it is written, and commits it only if it is valid; any failure stores nothing and names
the reason. Versions are immutable: the same content again is a no-op, other content under
an existing NAME:VERSION is refused. A progress bar is shown when stderr is a terminal.`,
		Args: cobra.ExactArgs(2),
	}
	f := cmd.Flags()
	f.StringVar(&sigFile, "sig", "", "detached signature of FILE (DER or PEM), from 'podboot image sign'")
	f.StringVar(&kind, "kind", string(artifact.KindStage2), "artifact kind: stage2, kernel, initrd, bootloader or package")
	f.Int64Var(&imageSize, "size", 0, "size in bytes the signed image must have (from a build manifest); a shorter FILE is refused as truncated")
	_ = cmd.MarkFlagRequired("sig")
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, version, err := imagepush.ParseRef(args[0])
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(sigFile)
		if err != nil {
			return fmt.Errorf("read --sig: %w", err)
		}
		file, err := os.Open(args[1])
		if err != nil {
			return fmt.Errorf("open image: %w", err)
		}
		defer file.Close()
		fi, err := file.Stat()
		if err != nil {
			return fmt.Errorf("stat image: %w", err)
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		tty := isTerminal(os.Stderr)
		digest, err := hashFile(file, fi.Size(), tty)
		if err != nil {
			return err
		}
		var content io.Reader = file
		var bar *imagepush.Progress
		if tty {
			bar = imagepush.NewProgress(file, os.Stderr, "uploading", fi.Size())
			content = bar
		}
		res, err := imagepush.Push(cmd.Context(), c, imagepush.Request{
			Name: name, Version: version, Kind: artifact.Kind(kind),
			Signature: imagesign.DecodeSignature(raw), Content: content, Size: fi.Size(),
			ImageSize: imageSize, SHA256: digest,
		})
		if bar != nil {
			bar.Done()
		}
		if err != nil {
			return err
		}
		if *out == "json" {
			return printOut(cmd.OutOrStdout(), "json", res, nil, nil)
		}
		a := res.Image
		if !res.Created {
			fmt.Fprintf(cmd.OutOrStdout(), "image %s unchanged (already stored with sha256 %s)\n", a.Ref(), a.Digest)
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "image %s pushed (%s, %d bytes, sha256 %s, signed by %s)\n", a.Ref(), a.Kind, a.Size, a.Digest, a.Signer)
		return nil
	}
	return cmd
}

// hashFile computes the file's SHA-256 (sent ahead so the server can answer a re-push
// at once) and rewinds it.
func hashFile(f *os.File, size int64, tty bool) ([]byte, error) {
	var r io.Reader = f
	var bar *imagepush.Progress
	if tty {
		bar = imagepush.NewProgress(f, os.Stderr, "hashing  ", size)
		r = bar
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("hash image: %w", err)
	}
	if bar != nil {
		bar.Done()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind image: %w", err)
	}
	return h.Sum(nil), nil
}

// isTerminal reports whether f is a terminal (not a pipe, file or /dev/null).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
