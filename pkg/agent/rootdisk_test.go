package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/agentproto"
)

func TestChooseRootDisk(t *testing.T) {
	const gb = 1000 * 1000 * 1000
	disks := []agentproto.Disk{
		{Name: "sda", Model: "Samsung SSD 870", Serial: "S1", WWN: "0x5002538e40a1b2c3", SizeBytes: 500 * gb, Bus: "ata"},
		{Name: "sdb", Model: "USB Stick", Serial: "U1", SizeBytes: 16 * gb, Bus: "usb", Removable: true},
		{Name: "nvme0n1", Model: "INTEL SSDPE2KX010T8", Serial: "N1", SizeBytes: 1000 * gb, Bus: "nvme"},
		{Name: "sdc", Model: "ST4000NM", Serial: "H1", SizeBytes: 4000 * gb, Bus: "scsi", Rotational: true},
	}
	tests := []struct {
		name  string
		hints agentproto.RootDeviceHints
		want  string
	}{
		{"no hints: smallest fixed disk, never the USB stick", agentproto.RootDeviceHints{}, "sda"},
		{"serial", agentproto.RootDeviceHints{Serial: "N1"}, "nvme0n1"},
		{"wwn any case", agentproto.RootDeviceHints{WWN: "0X5002538E40A1B2C3"}, "sda"},
		{"model substring", agentproto.RootDeviceHints{Model: "ssdpe2"}, "nvme0n1"},
		{"smallest >= 600 GB", agentproto.RootDeviceHints{MinSizeMB: 600_000}, "nvme0n1"},
		{"size range", agentproto.RootDeviceHints{MinSizeMB: 2_000_000, MaxSizeMB: 5_000_000}, "sdc"},
		{"removable never", agentproto.RootDeviceHints{Serial: "U1"}, ""},
		{"no match", agentproto.RootDeviceHints{Model: "nosuch"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := chooseRootDisk(disks, tt.hints)
			if tt.want == "" {
				if !errors.Is(err, errNoRootDisk) || !strings.Contains(err.Error(), `nvme0n1 1000000MB bus=nvme model="INTEL SSDPE2KX010T8" serial="N1"`) {
					t.Fatalf("err = %v, want no match with the inventory", err)
				}
				return
			}
			if err != nil || d.Name != tt.want {
				t.Fatalf("chose %s (%v), want %s", d.Name, err, tt.want)
			}
		})
	}
}
