package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/imagepush/pushtest"
)

// refusalCase is an image and a signature that `podboot image verify` and `podboot image
// push` must refuse, and the reason they must name.
type refusalCase struct {
	name   string
	sig    string // signature file
	file   string // image file
	size   int64  // --size (0: not given)
	reason string
}

// signedImage is a good image and its signature, made with the real `podboot image sign`.
type signedImage struct {
	file, sig string
	content   []byte
}

// runPodboot runs a command that needs no server and returns stdout, stderr and the error.
func runPodboot(t *testing.T, bin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// signWith issues a signer under parent as spec says and signs file with the CLI.
func signWith(t *testing.T, bin, dir, name string, parent *pushtest.Cert, spec pushtest.Spec, file string) string {
	t.Helper()
	cert, key := pushtest.Signer(t, parent, name, spec).Write(t, dir, name)
	sig := filepath.Join(dir, name+".p7s")
	if _, errs, err := runPodboot(t, bin, "image", "sign", "--cert", cert, "--key", key, file, "-o", sig); err != nil {
		t.Fatalf("image sign with %s: %v\n%s", name, err, errs)
	}
	return sig
}

// refusalCases builds, in dir, one good signed image and one case per refusal reason
// of imagesign: digest mismatch, untrusted root, wrong key usage (EKU and keyUsage),
// expired, not yet valid, malformed signature, truncated file.
func refusalCases(t *testing.T, bin, dir string, root *pushtest.Cert, content []byte) (signedImage, []refusalCase) {
	t.Helper()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := signedImage{file: write("stage2.img", content), content: content}
	good.sig = signWith(t, bin, dir, "ci", root, pushtest.Spec{}, good.file)
	sigBytes, err := os.ReadFile(good.sig)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(content)
	tampered[len(tampered)/2] ^= 0x01
	year := 365 * 24 * time.Hour
	return good, []refusalCase{
		{name: "tampered file", sig: good.sig, file: write("tampered.img", tampered), reason: "digest mismatch"},
		{name: "untrusted root", sig: signWith(t, bin, dir, "rogue", pushtest.Root(t, "rogue root"), pushtest.Spec{}, good.file), file: good.file, reason: "untrusted root"},
		{name: "server certificate", sig: signWith(t, bin, dir, "tls", root, pushtest.Spec{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, good.file), file: good.file, reason: "wrong key usage"},
		{name: "no digitalSignature", sig: signWith(t, bin, dir, "keyenc", root, pushtest.Spec{KeyUsage: x509.KeyUsageKeyEncipherment}, good.file), file: good.file, reason: "wrong key usage"},
		{name: "expired", sig: signWith(t, bin, dir, "old", root, pushtest.Spec{NotBefore: time.Now().Add(-2 * year), NotAfter: time.Now().Add(-year)}, good.file), file: good.file, reason: "expired or not yet valid"},
		{name: "not yet valid", sig: signWith(t, bin, dir, "future", root, pushtest.Spec{NotBefore: time.Now().Add(24 * time.Hour)}, good.file), file: good.file, reason: "expired or not yet valid"},
		{name: "malformed signature", sig: write("cut.p7s", sigBytes[:len(sigBytes)/2]), file: good.file, reason: "malformed signature"},
		{name: "truncated file", sig: good.sig, file: write("short.img", content[:len(content)/2]), size: int64(len(content)), reason: "truncated file"},
	}
}

// sizeArgs is --size N when the case declares a size.
func (c refusalCase) sizeArgs() []string {
	if c.size == 0 {
		return nil
	}
	return []string{"--size", strconv.FormatInt(c.size, 10)}
}

// TestImageVerifyRefusalsCLI runs `podboot image verify` on every refusal reason: it
// must exit non-zero and name the reason.
func TestImageVerifyRefusalsCLI(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	dir := t.TempDir()
	root := pushtest.Root(t, "verify root")
	rootFile, _ := root.Write(t, dir, "root")
	good, cases := refusalCases(t, bin, dir, root, bytes.Repeat([]byte("image "), 50000))
	if out, errs, err := runPodboot(t, bin, "image", "verify", "--root-ca", rootFile, "--size", strconv.Itoa(len(good.content)), good.sig, good.file); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("good image: %v\n%s%s", err, out, errs)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"image", "verify", "--root-ca", rootFile}, c.sizeArgs()...)
			_, errs, err := runPodboot(t, bin, append(args, c.sig, c.file)...)
			if err == nil {
				t.Fatal("verify accepted it")
			}
			if !strings.Contains(errs, "verification FAILED ("+c.reason+")") {
				t.Fatalf("stderr does not name %q:\n%s", c.reason, errs)
			}
		})
	}
}
