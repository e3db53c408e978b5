package kmod

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeSys is a /sys tree with devices that have a modalias; a driver "creates" more
// devices when it loads, as virtio_pci and an HBA do.
type fakeSys struct {
	t    *testing.T
	root string
}

func (f fakeSys) add(bus, dev, alias string) {
	d := filepath.Join(f.root, "bus", bus, "devices", dev)
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "modalias"), []byte(alias+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func testTable() *Table {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "virtio_ring"}, {Name: "virtio", Depends: []string{"virtio_ring"}},
		{Name: "virtio_pci", Depends: []string{"virtio"}, Aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}},
		{Name: "virtio_scsi", Depends: []string{"virtio"}, Aliases: []string{"virtio:d00000008v*"}},
		{Name: "sd_mod", Aliases: []string{"scsi:t-0x00*"}},
		{Name: "realtek"},
		{Name: "r8169", SoftPre: []string{"realtek"}, Aliases: []string{"pci:v000010ECd00008168sv*sd*bc*sc*i*"}},
		{Name: "mlx4_core", Aliases: []string{"pci:v000015B3d00001003sv*sd*bc*sc*i*"}},
		{Name: "mlx4_en", Depends: []string{"mlx4_core"}},
		{Name: "broken", Aliases: []string{"pci:v0000BEEFd*sv*sd*bc*sc*i*"}},
		{Name: "crc32c_generic", Aliases: []string{"crypto-crc32c", "crc32c"}},
		{Name: "jbd2", SoftPre: []string{"crypto-crc32c"}},
		{Name: "ext4", Depends: []string{"jbd2"}, SoftPre: []string{"crypto-crc32c"}, Aliases: []string{"fs-ext4"}},
	} {
		tab.Add(info)
	}
	return tab
}

// TestColdplugRounds: devices created by a driver get their drivers in a later
// round; softdeps load first; a failing driver is recorded, not fatal.
func TestColdplugRounds(t *testing.T) {
	sys := fakeSys{t, t.TempDir()}
	sys.add("pci", "0000:00:02.0", "pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00")
	sys.add("pci", "0000:00:03.0", "pci:v000010ECd00008168sv000010ECsd00008168bc02sc00i00")
	sys.add("pci", "0000:00:04.0", "pci:v0000BEEFd00000001sv00000000sd00000000bc02sc00i00")
	sys.add("pci", "0000:00:1f.0", "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00")
	var order []string
	finit := func(p string) error {
		m := Canonical(p)
		order = append(order, m)
		switch m {
		case "virtio_pci":
			sys.add("virtio", "virtio0", "virtio:d00000008v00001AF4")
		case "virtio_scsi":
			sys.add("scsi", "0:0:0:0", "scsi:t-0x00")
		case "broken":
			return errors.New("no such device")
		}
		return nil
	}
	l := NewLoader("/lib/modules/podboot", testTable(), finit)
	rounds := 0
	for l.Round(sys.root) > 0 {
		rounds++
	}
	want := []string{"virtio_ring", "virtio", "virtio_pci", "realtek", "r8169", "broken", "virtio_scsi", "sd_mod"}
	if !slices.Equal(order, want) {
		t.Fatalf("load order %v, want %v", order, want)
	}
	if rounds != 3 {
		t.Errorf("%d rounds, want 3 (PCI, virtio, SCSI)", rounds)
	}
	if err := l.Failed("broken"); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Errorf("Failed(broken) = %v", err)
	}
	if slices.Contains(l.Loaded(), "broken") || len(l.Devices()) != 6 {
		t.Errorf("loaded %v devices %d", l.Loaded(), len(l.Devices()))
	}
	// The kernel's request_module("mlx4_en"): loaded with its dependency; an unknown
	// name is a clear error.
	order = nil
	if err := l.Load("mlx4_en"); err != nil || !slices.Equal(order, []string{"mlx4_core", "mlx4_en"}) {
		t.Fatalf("Load(mlx4_en) = %v, loaded %v", err, order)
	}
	// The mount's request_module("fs-ext4"): ext4 with its dependency and the crc32c
	// its soft dependency names by alias.
	order = nil
	if err := l.Load("fs-ext4"); err != nil || !slices.Equal(order, []string{"crc32c_generic", "jbd2", "ext4"}) {
		t.Fatalf("Load(fs-ext4) = %v, loaded %v", err, order)
	}
	if err := l.Load("net-pf-10"); err == nil || !strings.Contains(err.Error(), "not in this initrd") {
		t.Fatalf("Load(net-pf-10) = %v", err)
	}
}

// TestOpenLoader reads the index files as the stage1 builder writes them; an initrd
// without modules.softdep still loads, one without modules.alias is an error (the
// agent then loads every module).
func TestOpenLoader(t *testing.T) {
	dir := t.TempDir()
	tab := testTable()
	for name, write := range map[string]func(io.Writer) error{AliasFile: tab.WriteAlias, DepFile: tab.WriteDep} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	l, err := OpenLoader(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Table().Match("scsi:t-0x00"); !slices.Equal(got, []string{"sd_mod"}) {
		t.Fatalf("Match = %v", got)
	}
	os.Remove(filepath.Join(dir, AliasFile))
	if _, err := OpenLoader(dir); err == nil {
		t.Fatal("no error without modules.alias")
	}
}
