package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// TestPCIDiagnosis: each PCI network and storage controller is named with vendor:device
// and what became of its driver.
func TestPCIDiagnosis(t *testing.T) {
	sys := t.TempDir()
	add := func(slot, class, vendor, device, alias, driver string) {
		d := filepath.Join(sys, "bus", "pci", "devices", slot)
		os.MkdirAll(d, 0o755)
		for f, v := range map[string]string{"class": class, "vendor": vendor, "device": device, "modalias": alias} {
			os.WriteFile(filepath.Join(d, f), []byte(v+"\n"), 0o644)
		}
		if driver != "" {
			os.Symlink("../../../bus/pci/drivers/"+driver, filepath.Join(d, "driver"))
		}
	}
	add("0000:00:02.0", "0x020000", "0x8086", "0x10d3", "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", "e1000e")
	add("0000:00:03.0", "0x020000", "0x10ec", "0x8139", "pci:v000010ECd00008139sv00001AF4sd00001100bc02sc00i00", "")
	add("0000:00:04.0", "0x010400", "0x1000", "0x0060", "pci:v00001000d00000060sv00001000sd00001013bc01sc04i00", "")
	add("0000:00:05.0", "0x010802", "0x1b36", "0x0010", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", "")
	add("0000:00:1f.3", "0x0c0500", "0x8086", "0x2930", "pci:v00008086d00002930sv00001AF4sd00001100bc0Csc05i00", "")
	tab := kmod.NewTable()
	tab.Add(kmod.Info{Name: "e1000e", Aliases: []string{"pci:v00008086d000010D3sv*sd*bc*sc*i*"}})
	tab.Add(kmod.Info{Name: "megaraid_sas", Aliases: []string{"pci:v00001000d00000060sv*sd*bc*sc*i*"}})
	tab.Add(kmod.Info{Name: "nvme", Aliases: []string{"pci:v*d*sv*sd*bc01sc08i02*"}})
	l, err := kmod.NewLoader("/x", tab, func(p string, _ bool) error {
		if strings.HasSuffix(p, "megaraid_sas.ko") {
			return errors.New("invalid module format")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Round(sys)
	got := strings.Join(pciDiagnosis(sys, l, pciClassNetwork, pciClassStorage), "\n")
	want := strings.Join([]string{
		"PCI 0000:00:02.0 network 8086:10d3 (class 0x020000): driver e1000e bound",
		"PCI 0000:00:03.0 network 10ec:8139 (class 0x020000): no driver packed",
		"PCI 0000:00:04.0 storage 1000:0060 (class 0x010400): driver megaraid_sas failed: finit_module megaraid_sas: invalid module format",
		"PCI 0000:00:05.0 storage 1b36:0010 (class 0x010802): driver nvme loaded but did not bind (see the kernel log)",
	}, "\n")
	if got != want {
		t.Fatalf("diagnosis:\n%s\nwant:\n%s", got, want)
	}
}
