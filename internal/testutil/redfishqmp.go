package testutil

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// qemuTarget is the QEMU guest a RedfishBMC drives over QMP (QEMU started with
// -no-shutdown, so "off" keeps the process and its media: see
// ../shared/notes/bmc.md section 7). cd is the qdev id of an empty CD drive.
type qemuTarget struct {
	sock, cd, dir string
	dial          func(ctx context.Context, network, addr string) (net.Conn, error) // nil: the default
}

// DriveQEMU makes the fixture act on a real QEMU guest through its QMP socket: Reset
// maps to system_reset/cont/stop/system_powerdown/inject-nmi, a boot override to Cd
// sets the CD drive's bootindex to 0 (any other target clears it), and InsertMedia
// downloads the image into dir and maps it with blockdev-change-medium (EjectMedia:
// eject). A QMP failure answers 500 with a Redfish error body.
func (b *RedfishBMC) DriveQEMU(sock, cdID, dir string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.qemu = &qemuTarget{sock: sock, cd: cdID, dir: dir}
}

// FetchMediaFrom makes DriveQEMU's InsertMedia fetch the image through dial (say
// NS.DialContext, when the image is served in a namespace), as a BMC on that network.
func (b *RedfishBMC) FetchMediaFrom(dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.qemu.dial = dial
}

// qmp runs commands on one QMP connection and returns the last one's result.
func (q *qemuTarget) qmp(cmds ...map[string]any) (json.RawMessage, error) {
	c, err := net.DialTimeout("unix", q.sock, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return nil, err
	}
	var ret json.RawMessage
	for _, cmd := range append([]map[string]any{{"execute": "qmp_capabilities"}}, cmds...) {
		if err := json.NewEncoder(c).Encode(cmd); err != nil {
			return nil, err
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, err
			}
			var m struct {
				Return json.RawMessage               `json:"return"`
				Error  *struct{ Class, Desc string } `json:"error"`
				Event  string                        `json:"event"`
			}
			if err := json.Unmarshal(line, &m); err != nil {
				return nil, err
			}
			if m.Event != "" {
				continue
			}
			if m.Error != nil {
				return nil, fmt.Errorf("qmp %v: %s: %s", cmd["execute"], m.Error.Class, m.Error.Desc)
			}
			ret = m.Return
			break
		}
	}
	return ret, nil
}

func exec1(name string, args map[string]any) map[string]any {
	m := map[string]any{"execute": name}
	if args != nil {
		m["arguments"] = args
	}
	return m
}

// reset applies a ResetType to the guest.
func (q *qemuTarget) reset(rt string, wasOn bool) error {
	var err error
	switch rt {
	case "On", "ForceOn":
		_, err = q.qmp(exec1("system_reset", nil), exec1("cont", nil))
	case "ForceOff":
		_, err = q.qmp(exec1("stop", nil))
	case "GracefulShutdown":
		_, err = q.qmp(exec1("system_powerdown", nil))
	case "ForceRestart", "GracefulRestart":
		_, err = q.qmp(exec1("system_reset", nil), exec1("cont", nil))
	case "PushPowerButton":
		if wasOn {
			_, err = q.qmp(exec1("system_powerdown", nil))
		} else {
			_, err = q.qmp(exec1("system_reset", nil), exec1("cont", nil))
		}
	case "Nmi":
		_, err = q.qmp(exec1("inject-nmi", nil))
	}
	return err
}

// bootFrom sets the CD's bootindex: 0 for Cd, -1 for anything else.
func (q *qemuTarget) bootFrom(target string) error {
	idx := -1
	if target == "Cd" {
		idx = 0
	}
	_, err := q.qmp(exec1("qom-set", map[string]any{"path": "/machine/peripheral/" + q.cd, "property": "bootindex", "value": idx}))
	return err
}

// insert downloads image (the fixture stands for a BMC: it fetches the URL itself, TLS
// unverified) and maps it as the CD's medium.
func (q *qemuTarget) insert(image string) error {
	cl := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: q.dial, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get(image)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", image, resp.StatusCode)
	}
	f, err := os.CreateTemp(q.dir, "vmedia-*.iso")
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return err
	}
	_, err = q.qmp(exec1("blockdev-change-medium", map[string]any{"id": q.cd, "filename": filepath.Clean(f.Name()), "format": "raw", "read-only-mode": "read-only"}))
	return err
}

func (q *qemuTarget) eject() error {
	_, err := q.qmp(exec1("eject", map[string]any{"id": q.cd, "force": true}))
	return err
}
