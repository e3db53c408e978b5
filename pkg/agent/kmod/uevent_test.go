package kmod

import (
	"strings"
	"testing"
)

func TestParseUevent(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want Uevent
		err  bool
	}{
		{"pci add", "add@/devices/pci0000:00/0000:00:02.0\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:02.0\x00SUBSYSTEM=pci\x00MODALIAS=pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00\x00SEQNUM=812\x00",
			Uevent{Action: "add", DevPath: "/devices/pci0000:00/0000:00:02.0", Subsystem: "pci", Modalias: "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00"}, false},
		{"bind", "bind@/devices/pci0000:00/0000:00:02.0\x00ACTION=bind\x00DEVPATH=/devices/pci0000:00/0000:00:02.0\x00SUBSYSTEM=pci\x00DRIVER=e1000e\x00",
			Uevent{Action: "bind", DevPath: "/devices/pci0000:00/0000:00:02.0", Subsystem: "pci", Driver: "e1000e"}, false},
		{"header only", "remove@/devices/virtual/block/loop0", Uevent{Action: "remove", DevPath: "/devices/virtual/block/loop0"}, false},
		{"udev message", "libudev\x00\xfe\xed\xca\xfe", Uevent{}, true},
		{"no devpath", "add@\x00ACTION=add\x00", Uevent{}, true},
		{"empty", "", Uevent{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUevent([]byte(tt.msg))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseUevent = %+v, %v; want %+v (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
	if n := (Uevent{DevPath: "/devices/pci0000:00/0000:00:02.0/virtio0"}).Name(); n != "virtio0" {
		t.Errorf("Name = %q", n)
	}
}

// FuzzParseUevent: any bytes give an event with an action and a /-rooted DevPath, or
// an error; never a panic.
func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("add@/devices/pci0000:00/0000:00:02.0\x00ACTION=add\x00SUBSYSTEM=pci\x00MODALIAS=pci:v1\x00"))
	f.Add([]byte("libudev\x00"))
	f.Add([]byte("bind@/x\x00DRIVER=sd\x00DEVPATH=\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseUevent(b)
		if err != nil {
			return
		}
		if e.Action == "" || !strings.HasPrefix(e.DevPath, "/") || strings.Contains(e.Name(), "/") {
			t.Fatalf("event %+v from %q", e, b)
		}
	})
}
