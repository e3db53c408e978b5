package stage1_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agent/kmod"
	"github.com/podboot/podboot/pkg/imagesign"
	"github.com/podboot/podboot/pkg/stage1"
)

// fakeFirmwareDeb builds a firmware-*.deb like Debian's: files under usr/lib/firmware
// (Debian 13 layout), one of them an absolute symlink.
func fakeFirmwareDeb(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "fw")
	tigon := filepath.Join(root, "usr", "lib", "firmware", "tigon")
	for _, d := range []string{tigon, filepath.Join(root, "DEBIAN")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tigon, "tg3.bin"), []byte("tg3 firmware"), 0o644)
	if err := os.Symlink("/lib/firmware/tigon/tg3.bin", filepath.Join(tigon, "tg3_tso.bin")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte("Package: firmware-test\nVersion: 1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"), 0o644)
	deb := filepath.Join(dir, "firmware-test_1_all.deb")
	testutil.Run(t, dir, "dpkg-deb", "--root-owner-group", "-b", root, deb)
	return deb
}

// TestBuildGenericKernel builds from Debian's real generic kernel package: every
// requested driver is packed with its computed dependencies and soft dependencies,
// the alias table sends real server modalias strings to the right modules, firmware
// comes from --firmware-deb and the rest is named as lacking.
func TestBuildGenericKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: needs Debian's generic kernel package (70 MB, cached)")
	}
	for _, tool := range []string{"dpkg-deb", "apt-get", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (scripts/deps.sh installs it)", tool)
			}
			t.Skipf("SKIPPED: %s not installed", tool)
		}
	}
	deb := testutil.DebianGenericKernelDeb(t)
	dir := t.TempDir()
	pki, err := imagesign.InitCA(filepath.Join(dir, "pki"), "test root", imagesign.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(dir, "agent")
	os.WriteFile(agent, []byte("\x7fELF fake agent"), 0o755)
	opts := stage1.Options{ModulesDeb: deb, RootCA: pki.CACertFile(), Agent: agent, OutDir: filepath.Join(dir, "out"),
		FirmwareDebs: []string{fakeFirmwareDeb(t, dir)}, Modules: []string{"sym53c8xx"}}
	res, err := stage1.Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Requested {
		if m.Status != stage1.ModulePacked {
			t.Errorf("module %s is %s, want packed (Debian's generic kernel has it as a module)", m.Name, m.Status)
		}
	}
	for _, m := range []string{"realtek", "virtio_pci_modern_dev", "libahci", "nvme_core", "scsi_transport_spi", "mlx4_core", "qed"} {
		if !slices.Contains(res.Modules, m) {
			t.Errorf("module %s (a dependency or soft dependency) not shipped: %v", m, res.Modules)
		}
	}
	if !slices.Equal(res.Firmware, []string{"tigon/tg3.bin", "tigon/tg3_tso.bin"}) {
		t.Errorf("firmware %v, want tg3.bin and the symlinked tg3_tso.bin", res.Firmware)
	}
	for _, want := range []string{"module tg3 will lack firmware tigon/tg3_tso5.bin", "module ice will lack firmware intel/ice/ddp/ice.pkg"} {
		if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("notes %q lack %q", res.Notes, want)
		}
	}
	if total := res.InitrdSize + res.KernelSize; total > 32<<20 {
		t.Errorf("kernel + initrd = %d bytes, over the 32 MiB budget", total)
	}
	t.Logf("initrd %d bytes, kernel %d bytes, %d modules", res.InitrdSize, res.KernelSize, len(res.Modules))

	x := t.TempDir()
	cmd := exec.Command("sh", "-c", "gzip -dc "+res.Initrd+" | cpio -id --quiet --no-absolute-filenames")
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(x, stage1.FirmwareDir, "tigon", "tg3_tso.bin")); string(b) != "tg3 firmware" {
		t.Errorf("packed tg3_tso.bin = %q", b)
	}
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(x, stage1.ModulesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	tab, err := kmod.ReadTable(open(kmod.AliasFile), open(kmod.DepFile), open(kmod.SoftdepFile))
	if err != nil {
		t.Fatal(err)
	}
	// modalias strings of real devices (QEMU's and servers', cross-checked against
	// modprobe in the hardware notes) and what they must load.
	cases := map[string][]string{
		"pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00": {"e1000e"},
		"pci:v00008086d00001521sv00008086sd00000001bc02sc00i00": {"igb"},
		"pci:v00008086d00001593sv00008086sd00000001bc02sc00i00": {"ice"},
		"pci:v000014E4d000016D7sv000014E4sd00001402bc02sc00i00": {"bnxt_en"},
		"pci:v000015B3d00001003sv000015B3sd00000050bc02sc00i00": {"mlx4_core"},
		"pci:v000015B3d00001017sv000015B3sd00000020bc02sc00i00": {"mlx5_core"},
		"pci:v000010ECd00008168sv000010ECsd00008168bc02sc00i00": {"r8169"},
		"pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00": {"vmxnet3"},
		"pci:v00001000d00000060sv00001000sd00001013bc01sc04i00": {"megaraid_sas"},
		"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02": {"nvme"},
		"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01": {"ahci"},
		"virtio:d00000008v00001AF4":                             {"virtio_scsi"},
		"scsi:t-0x00":                                           {"sd_mod"},
	}
	for alias, want := range cases {
		if got := tab.Match(alias); !slices.Equal(got, want) {
			t.Errorf("%s matches %v, want %v", alias, got, want)
		}
	}
	if !slices.Equal(tab.SoftPre["r8169"], []string{"realtek"}) {
		t.Errorf("r8169 soft dependencies %v, want realtek", tab.SoftPre["r8169"])
	}
	// The crypto algorithms crc_t10dif and crc64_rocksoft request from their init are
	// packed and load first (no usermode-helper exec at boot).
	for m, want := range map[string][]string{"crc_t10dif": {"crct10dif_generic", "crct10dif_pclmul"}, "crc64_rocksoft": {"crc64_rocksoft_generic"}} {
		var got []string
		for _, s := range tab.SoftPre[m] {
			got = append(got, tab.Match(s)...)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s pre: soft dependencies resolve to %v, want %v", m, got, want)
		}
	}
}
