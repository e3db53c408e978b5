package testutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LLDPD is lldpd (Debian lldpd) on a ToR: the switch's LLDP, sending an LLDPDU every
// second on every port, taps included (a real switch sends every 30 s).
type LLDPD struct {
	tor *ToR
	ctl string // lldpcli's control socket
}

// StartLLDP runs lldpd in the ToR namespace with systemName as its system name.
func (tor *ToR) StartLLDP(systemName string) *LLDPD {
	t := tor.tp.t
	t.Helper()
	// lldpd drops privileges to _lldpd, which must reach the socket's directory: not
	// under t.TempDir (0700 parents).
	dir, err := os.MkdirTemp("", "lldpd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctl, conf := filepath.Join(dir, "lldpd.ctl"), filepath.Join(dir, "lldpd.conf")
	// Set before lldpd starts its ports' timers (changed at run time, lldpd 1.0.16
	// sometimes stops its periodic transmissions).
	if err := os.WriteFile(conf, []byte("configure system hostname "+systemName+"\nconfigure lldp tx-interval 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := tor.Start(nil, "lldpd", "-d", "-u", ctl, "-O", conf, "-I", "*,!!tap*")
	WaitFor(t, 10*time.Second, "lldpd's control socket", func() bool {
		if p.Exited() {
			t.Fatalf("lldpd exited: %s", p.Output())
		}
		_, err := os.Stat(ctl)
		return err == nil
	})
	return &LLDPD{tor: tor, ctl: ctl}
}

// CLI runs lldpcli against this lldpd (e.g. show statistics, for a failure message).
func (l *LLDPD) CLI(args ...string) string {
	return l.tor.Run(append([]string{"lldpcli", "-u", l.ctl}, args...)...)
}

// Port makes lldpd announce port ifname as portID (a locally assigned ID, as switches
// name ports: Ethernet1/7) with a description, once lldpd has seen the interface.
func (l *LLDPD) Port(ifname, portID, description string) {
	l.tor.tp.t.Helper()
	WaitFor(l.tor.tp.t, 10*time.Second, "lldpd to see "+ifname, func() bool {
		out, _ := l.tor.Cmd(context.Background(), "lldpcli", "-u", l.ctl, "show", "interfaces", "ports", ifname).CombinedOutput()
		return strings.Contains(string(out), ifname)
	})
	l.CLI("configure", "ports", ifname, "lldp", "portidsubtype", "local", portID, "description", description)
}
