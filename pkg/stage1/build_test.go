package stage1

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/imagesign"
)

func fixture(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	pki, err := imagesign.InitCA(filepath.Join(dir, "pki"), "test root", imagesign.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(dir, "agent")
	kernel := filepath.Join(dir, "vmlinuz")
	for f, b := range map[string]string{agent: "\x7fELF fake agent", kernel: "fake kernel"} {
		if err := os.WriteFile(f, []byte(b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Options{Kernel: kernel, ModulesDir: "testdata/modules", RootCA: pki.CACertFile(), Agent: agent}
}

func TestBuildReproducible(t *testing.T) {
	opts := fixture(t)
	var outs [][]byte
	for i := range 2 {
		opts.OutDir = filepath.Join(t.TempDir(), "out")
		res, err := Build(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(res.Initrd)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
		if i == 0 {
			want := []string{"e1000e", "failover", "net_failover", "virtio", "virtio_ring", "virtio_blk", "virtio_net", "virtio_pci"}
			if !slices.Equal(res.Modules, want) {
				t.Errorf("modules %v, want %v", res.Modules, want)
			}
			status := map[string]string{}
			for _, m := range res.Requested {
				status[m.Name] = m.Status
			}
			if status["mlx5_core"] != ModuleAbsent || status["e1000e"] != ModulePacked {
				t.Errorf("requested %v do not say e1000e packed and mlx5_core absent", res.Requested)
			}
			// Touching the inputs' mtimes must not change the output.
			for _, f := range []string{opts.Agent, opts.RootCA, opts.Kernel} {
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(f, later, later); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two builds from the same inputs differ")
	}
}

func TestBuildContents(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("cpio not installed: scripts/deps.sh installs it, and CI must run it")
		}
		t.Skip("SKIPPED: cpio not installed (scripts/deps.sh installs it)")
	}
	opts := fixture(t)
	opts.OutDir = t.TempDir()
	opts.Modules = []string{"extra-nic"}
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// GNU cpio lists what the kernel will unpack.
	cmd := exec.Command("sh", "-c", "gzip -dc "+res.Initrd+" | cpio -it --quiet")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	list := strings.Fields(string(out))
	for _, want := range []string{"init", "dev/console", RootCAPath, ModulesDir + "/virtio_net.ko", ModulesDir + "/extra_nic.ko", ModuleOrderPath,
		ModulesDir + "/modules.alias", ModulesDir + "/modules.dep", ModulesDir + "/modules.softdep", ModprobePath} {
		if !slices.Contains(list, want) {
			t.Errorf("initrd lacks %s; has %v", want, list)
		}
	}
	x := t.TempDir()
	cmd = exec.Command("sh", "-c", "gzip -dc "+res.Initrd+" | cpio -id --quiet --no-absolute-filenames")
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(x, "init")); string(b) != "\x7fELF fake agent" {
		t.Errorf("init is %q", b)
	}
	if st, err := os.Stat(filepath.Join(x, "init")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("init mode: %v %v", st, err)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"missing extra module", func(o *Options) { o.Modules = []string{"nosuch"} }, "nosuch was asked for"},
		{"both module sources", func(o *Options) { o.ModulesDeb = "x.deb" }, "exactly one"},
		{"no root CA", func(o *Options) { o.RootCA = o.Kernel }, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := fixture(t)
			opts.OutDir = t.TempDir()
			tt.mod(&opts)
			if _, err := Build(context.Background(), opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBuildCompressedModules: Debian 13 kernels ship every module as .ko.xz; they are
// decompressed (byte for byte the signed ELF) and shipped, not skipped.
func TestBuildCompressedModules(t *testing.T) {
	for _, tool := range []string{"xz", "zstd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s not installed (scripts/deps.sh installs it)", tool)
		}
	}
	opts := fixture(t)
	tree := t.TempDir()
	if out, err := exec.Command("cp", "-r", "testdata/modules/.", tree).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	drivers := filepath.Join(tree, "kernel", "drivers")
	orig, _ := os.ReadFile(filepath.Join(drivers, "virtio_net.ko"))
	for f, tool := range map[string]string{"virtio_net.ko": "xz", "e1000e.ko": "zstd"} {
		if out, err := exec.Command(tool, "-q", filepath.Join(drivers, f)).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v %s", tool, f, err, out)
		}
		os.Remove(filepath.Join(drivers, f)) // zstd keeps its input
	}
	opts.ModulesDir, opts.OutDir = tree, t.TempDir()
	res, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Modules, "virtio_net") || !slices.Contains(res.Modules, "e1000e") {
		t.Fatalf("compressed modules not shipped: %v", res.Modules)
	}
	x := t.TempDir()
	cmd := exec.Command("sh", "-c", "gzip -dc "+res.Initrd+" | cpio -id --quiet --no-absolute-filenames")
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(x, ModulesDir, "virtio_net.ko")); !bytes.Equal(got, orig) {
		t.Fatal("the shipped virtio_net.ko differs from the module before compression")
	}
}
