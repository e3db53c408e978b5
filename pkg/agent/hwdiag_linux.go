package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/agent/kmod"
)

// PCI base classes the diagnosis covers.
const (
	pciClassStorage = "01"
	pciClassNetwork = "02"
)

// pciDiagnosis says, for each PCI device of the given base classes, what became of its
// driver: bound, no driver packed, the driver failed (and why), or it loaded and did not
// bind. It is what an operator needs when a server comes up without a NIC or a disk.
func pciDiagnosis(sysRoot string, l *kmod.Loader, classes ...string) []string {
	devs, _ := filepath.Glob(filepath.Join(sysRoot, "bus", "pci", "devices", "*"))
	slices.Sort(devs)
	var out []string
	for _, dev := range devs {
		class := readTrim(filepath.Join(dev, "class")) // 0x020000
		base := strings.TrimPrefix(class, "0x")
		if len(base) < 2 || !slices.Contains(classes, base[:2]) {
			continue
		}
		kind := map[string]string{pciClassStorage: "storage", pciClassNetwork: "network"}[base[:2]]
		id := strings.TrimPrefix(readTrim(filepath.Join(dev, "vendor")), "0x") + ":" + strings.TrimPrefix(readTrim(filepath.Join(dev, "device")), "0x")
		out = append(out, fmt.Sprintf("PCI %s %s %s (class %s): %s", filepath.Base(dev), kind, id, class, driverState(dev, l)))
	}
	return out
}

func driverState(dev string, l *kmod.Loader) string {
	if link, err := os.Readlink(filepath.Join(dev, "driver")); err == nil {
		return "driver " + filepath.Base(link) + " bound"
	}
	if l == nil {
		return "no driver bound"
	}
	mods := l.Table().Match(readTrim(filepath.Join(dev, "modalias")))
	if len(mods) == 0 {
		return "no driver packed"
	}
	var why []string
	for _, m := range mods {
		if err := l.Failed(m); err != nil {
			why = append(why, fmt.Sprintf("driver %s failed: %v", m, err))
		}
	}
	if len(why) > 0 {
		return strings.Join(why, "; ")
	}
	return fmt.Sprintf("driver %s loaded but did not bind (see the kernel log)", strings.Join(mods, ","))
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}
