// Command signbench drives pkg/imagesign for bench/sign/run.sh when the
// podboot CLI is not available, and measures Go's single-core SHA-256
// throughput as the baseline verification is compared with.
//
//	signbench gosha256 [MiB]                     in-memory SHA-256 throughput
//	signbench pki DIR                            CA + code-signing cert in DIR
//	signbench sign CERT KEY FILE OUT.p7s         like podboot image sign
//	signbench verify ROOT FILE.p7s FILE          like podboot image verify
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/podboot/podboot/pkg/imagesign"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "signbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: signbench gosha256|pki|sign|verify ...")
	}
	ctx := context.Background()
	switch args[0] {
	case "gosha256":
		mib := 2048
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return err
			}
			mib = n
		}
		buf := make([]byte, 256<<10) // the same chunk size imagesign streams with
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		h := sha256.New()
		start := time.Now()
		for i := 0; i < mib*4; i++ {
			h.Write(buf)
		}
		h.Sum(nil)
		el := time.Since(start)
		fmt.Printf("%.1f MiB/s\n", float64(mib)/el.Seconds())
		return nil
	case "pki":
		if len(args) != 2 {
			return fmt.Errorf("usage: signbench pki DIR")
		}
		p, err := imagesign.InitCA(args[1], "bench root", imagesign.KeyRSA)
		if err != nil {
			return err
		}
		_, _, err = p.IssueCodeSigning("bench", args[1], imagesign.KeyRSA, 24*time.Hour)
		return err
	case "sign":
		if len(args) != 5 {
			return fmt.Errorf("usage: signbench sign CERT KEY FILE OUT")
		}
		certs, err := imagesign.LoadCertificates(args[1])
		if err != nil {
			return err
		}
		key, err := imagesign.LoadPrivateKey(args[2])
		if err != nil {
			return err
		}
		f, err := os.Open(args[3])
		if err != nil {
			return err
		}
		defer f.Close()
		sig, err := imagesign.Sign(ctx, f, certs[0], key, certs[1:])
		if err != nil {
			return err
		}
		return os.WriteFile(args[4], sig, 0o644)
	case "verify":
		if len(args) != 4 {
			return fmt.Errorf("usage: signbench verify ROOT SIG FILE")
		}
		roots, err := imagesign.LoadCertPool(args[1])
		if err != nil {
			return err
		}
		sig, err := os.ReadFile(args[2])
		if err != nil {
			return err
		}
		f, err := os.Open(args[3])
		if err != nil {
			return err
		}
		defer f.Close()
		res, err := imagesign.Verify(ctx, sig, f, roots, time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("OK %x %d\n", res.Digest, res.Size)
		return nil
	}
	return fmt.Errorf("unknown mode %q", args[0])
}
