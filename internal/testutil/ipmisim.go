package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// IPMISim is OpenIPMI's ipmi_sim as a BMC for tests: real RMCP+ on a UDP port of
// 127.0.0.1 (or of addr), with a chassis_control program that records every power,
// reset and boot-device command in a log instead of switching a machine (a QEMU guest
// behind it is too slow for the default suite). Users: "admin" with the password
// given, admin privilege.
type IPMISim struct {
	Addr string
	Port int
	dir  string
	bin  string
	cmd  *exec.Cmd
}

const ipmiSimEmu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`

// ipmiSimChassis keeps power and boot device in files and logs each "set".
const ipmiSimChassis = `#!/bin/sh
D=$(dirname "$0")
op=$1; shift
while [ $# -gt 0 ]; do
  item=$1; shift
  if [ "$op" = set ]; then val=$1; shift; fi
  case "$op:$item" in
    get:power) echo "power:$(cat $D/power 2>/dev/null || echo 0)" ;;
    get:boot)  echo "boot:$(cat $D/boot 2>/dev/null || echo default)" ;;
    set:power) echo "$val" > $D/power; echo "power $val" >> $D/chassis.log ;;
    set:reset) echo "reset" >> $D/chassis.log ;;
    set:shutdown) echo 0 > $D/power; echo "shutdown" >> $D/chassis.log ;;
    set:boot)  echo "$val" > $D/boot; echo "boot $val" >> $D/chassis.log ;;
    set:identify) ;;
    *) echo "unsupported $op $item" >&2; exit 1 ;;
  esac
done
exit 0
`

// StartIPMISim starts ipmi_sim listening on addr (e.g. "127.0.0.1") and a free UDP
// port; t.Cleanup stops it. It skips the test loudly when ipmi_sim is not installed
// (scripts/deps.sh installs it), and fails in CI.
func StartIPMISim(t testing.TB, addr, password string) *IPMISim {
	t.Helper()
	s := newIPMISim(t, addr, FreeUDPPort(t))
	s.writeConf(t, password, ipmiSimChassis, "", "")
	s.cmd = exec.Command(s.bin, s.args()...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start ipmi_sim: %v", err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	return s
}

// newIPMISim finds ipmi_sim and makes the simulator's directory.
func newIPMISim(t testing.TB, addr string, port int) *IPMISim {
	t.Helper()
	bin, err := exec.LookPath("ipmi_sim")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ipmi_sim not installed (scripts/deps.sh: openipmi)")
		}
		t.Skip("SKIPPED: ipmi_sim not installed (apt-get install openipmi)")
	}
	return &IPMISim{Addr: addr, Port: port, dir: t.TempDir(), bin: bin}
}

// writeConf writes lan.conf, the .emu file and the chassis_control program; lanExtra
// goes into the LAN channel's section, mcExtra after the BMC's users.
func (s *IPMISim) writeConf(t testing.TB, password, chassis, lanExtra, mcExtra string) {
	t.Helper()
	ctl := filepath.Join(s.dir, "chassis-control.sh")
	conf := fmt.Sprintf(`name "podbootsim"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
%s  endlan
  chassis_control "%s"
  user 2   true    "admin"  "%s" admin    10       none md2 md5 straight
%s`, s.Addr, s.Port, lanExtra, ctl, password, mcExtra)
	for name, body := range map[string]string{"lan.conf": conf, "sim.emu": ipmiSimEmu, "chassis-control.sh": chassis} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
}

// args is ipmi_sim's command line (no console: -n).
func (s *IPMISim) args() []string {
	return []string{"-n", "-c", filepath.Join(s.dir, "lan.conf"), "-f", filepath.Join(s.dir, "sim.emu"), "-s", filepath.Join(s.dir, "state")}
}

// Log returns the chassis commands ipmi_sim handed to the control program, in order
// ("power 1", "power 0", "reset", "boot pxe").
func (s *IPMISim) Log() []string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "chassis.log"))
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

// SetPower sets the simulated power state.
func (s *IPMISim) SetPower(on bool) {
	v := "0"
	if on {
		v = "1"
	}
	os.WriteFile(filepath.Join(s.dir, "power"), []byte(v+"\n"), 0o600)
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
