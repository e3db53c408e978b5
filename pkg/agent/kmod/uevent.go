package kmod

import (
	"bytes"
	"errors"
	"strings"
)

// Uevent is one kernel device event (NETLINK_KOBJECT_UEVENT), the fields the loader
// uses: "add" of a device with a modalias means a driver to load, "bind" that a
// driver took a device.
type Uevent struct {
	Action    string // add, remove, bind, ...
	DevPath   string // /devices/pci0000:00/0000:00:02.0
	Subsystem string // the bus: pci, virtio, scsi, ...
	Modalias  string
	Driver    string
}

// ParseUevent reads a kernel uevent message: "ACTION@DEVPATH" then KEY=VALUE fields,
// each ending in a NUL. Messages from udev (which start "libudev") are refused.
func ParseUevent(b []byte) (Uevent, error) {
	head, rest, _ := bytes.Cut(b, []byte{0})
	action, devpath, ok := strings.Cut(string(head), "@")
	if !ok || action == "" || !strings.HasPrefix(devpath, "/") {
		return Uevent{}, errors.New("uevent: no ACTION@DEVPATH header")
	}
	e := Uevent{Action: action, DevPath: devpath}
	for _, kv := range bytes.Split(rest, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k { // ACTION and DEVPATH repeat the header
		case "SUBSYSTEM":
			e.Subsystem = v
		case "MODALIAS":
			e.Modalias = v
		case "DRIVER":
			e.Driver = v
		}
	}
	return e, nil
}

// Name is the device's name on its bus (the last element of DevPath).
func (e Uevent) Name() string { return e.DevPath[strings.LastIndexByte(e.DevPath, '/')+1:] }
