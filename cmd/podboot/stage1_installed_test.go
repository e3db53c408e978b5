package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/imagesign"
)

// TestStage1BuildFromInstalledBinary builds podboot as `make build` does and runs
// `stage1 build` from a copy of it in a directory with no go.mod and an empty PATH (no
// Go): the initrd's /init is the agent embedded at build time. A podboot from a plain
// `go build` says what to do there instead of Go's "go.mod file not found".
func TestStage1BuildFromInstalledBinary(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is missing (apt-get install make)")
	}
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	installed := t.TempDir()
	release := filepath.Join(installed, "podboot")
	testutil.Run(t, src, "make", "build", "BIN="+release)
	plain := filepath.Join(installed, "podboot-go-build")
	testutil.Run(t, installed, "cp", testutil.BuildPodboot(t), plain)

	work := t.TempDir()
	pki, err := imagesign.InitCA(filepath.Join(work, "pki"), "test root", imagesign.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(work, "vmlinuz")
	if err := os.WriteFile(kernel, []byte("fake kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	modules, err := filepath.Abs("../../pkg/stage1/testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	run := func(bin string) (string, error) {
		cmd := exec.Command(bin, "stage1", "build", "--kernel", kernel, "--modules", modules, "--root-ca", pki.CACertFile(), "--out", "out")
		cmd.Dir = work
		cmd.Env = []string{"PATH=" + t.TempDir(), "HOME=" + work}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(release)
	if err != nil {
		t.Fatalf("stage1 build from the installed podboot: %v\n%s", err, out)
	}
	if !strings.Contains(out, "podboot-agent: embedded in this podboot binary") {
		t.Errorf("stage1 build does not say it used the embedded agent:\n%s", out)
	}
	agent, err := os.ReadFile(filepath.Join(src, "internal", "agentbin", "podboot-agent"))
	if err != nil {
		t.Fatal(err)
	}
	if initrd := gunzip(t, filepath.Join(work, "out", "initrd.img")); !bytes.Contains(initrd, agent) {
		t.Errorf("the initrd does not hold the agent that make build embedded (%d bytes)", len(agent))
	}

	out, err = run(plain)
	if err == nil {
		t.Fatalf("stage1 build from a go-build podboot outside the tree succeeded:\n%s", out)
	}
	if strings.Contains(out, "go.mod file not found") || !strings.Contains(out, "--agent FILE") || !strings.Contains(out, "make build") {
		t.Errorf("stage1 build without an agent, outside the tree, does not say what to do:\n%s", out)
	}
}

func gunzip(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
