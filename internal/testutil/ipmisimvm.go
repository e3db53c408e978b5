package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// IPMIVMConfig is the QEMU guest an ipmi_sim drives (StartIPMISimVM) and what its BMC
// says about itself.
type IPMIVMConfig struct {
	Password string // of the BMC user "admin"
	// LAN is what Get LAN Configuration Parameters answers for channel 1, over the LAN
	// and through the guest's own system interface (/dev/ipmi0).
	LAN IPMILAN
	// Args are the guest's QEMU arguments for every boot (NIC, disks, RNG, ...). Boot
	// adds arguments per IPMI boot device as ipmi_sim names it ("pxe", "default" for
	// disk, "cdrom", "bios", "none"); a device without an entry boots as "default".
	Args []string
	Boot map[string][]string
}

// IPMILAN is a BMC LAN channel's configuration (dotted quads, colon MAC).
type IPMILAN struct{ Address, Netmask, Gateway, MAC string }

// ipmiVMChassis is ../shared/notes/bmc.md §4.3's config B: ipmi_sim hands power,
// reset and boot device to this program, which starts QEMU with the boot device's
// arguments (start-DEVICE.sh) and stops it. ipmi_sim runs it synchronously and reads
// its stdout to EOF, so it returns fast and QEMU keeps none of its descriptors. A
// reset is off + on, so the boot device set before it applies, as on a real server.
const ipmiVMChassis = `#!/bin/bash
D=$(dirname "$0")
alive() { local p; p=$(cat $D/qemu.pid 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null \
          && grep -qa "$D/qemu.pid" /proc/$p/cmdline 2>/dev/null; }
off() {
  alive || return 0
  kill "$(cat $D/qemu.pid)"
  for i in 1 2 3 4 5 6 7 8; do alive || return 0; sleep 0.1; done
  kill -9 "$(cat $D/qemu.pid)"
}
on() {
  alive && return 0
  rm -f $D/qemu.pid
  b=$(cat $D/boot 2>/dev/null || echo default); [ -x "$D/start-$b.sh" ] || b=default
  echo "$b" >> $D/starts.log
  ( for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
    exec setsid "$D/start-$b.sh" </dev/null >>$D/qemu.log 2>&1 ) &
  for i in 1 2 3 4 5 6 7 8; do [ -s $D/qemu.pid ] && break; sleep 0.1; done
}
soft() {
  alive || return 0
  exec 3<>/dev/tcp/127.0.0.1/$(cat $D/qmp.port) || return 1
  printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' >&3
  sleep 0.2; exec 3>&-
}
op=$1; shift
while [ $# -gt 0 ]; do
  item=$1; shift
  if [ "$op" = set ]; then val=$1; shift; fi
  case "$op:$item" in
    get:power) if alive; then echo "power:1"; else echo "power:0"; fi ;;
    get:boot)  echo "boot:$(cat $D/boot 2>/dev/null || echo default)" ;;
    set:power) echo "power $val" >> $D/chassis.log; if [ "$val" = 1 ]; then on; else off; fi ;;
    set:reset) echo "reset" >> $D/chassis.log; alive && { off; on; } ;;
    set:shutdown) echo "shutdown" >> $D/chassis.log; soft ;;
    set:boot)  echo "$val" > $D/boot; echo "boot $val" >> $D/chassis.log ;;
    set:identify) ;;
    *) echo "unsupported $op $item" >&2; exit 1 ;;
  esac
done
exit 0
`

// ipmiVMLAN is ipmi_sim's lan_config_program: "get NAME..." prints NAME:VALUE lines
// (the format of OpenIPMI's lanserv/ipmi_sim_lancontrol); set and check are accepted
// and not kept.
const ipmiVMLAN = `#!/bin/sh
[ "$1" = get ] || exit 0
shift
for p in "$@"; do
  case $p in
    ip_addr) echo "ip_addr:%s" ;;
    ip_addr_src) echo "ip_addr_src:static" ;;
    mac_addr) echo "mac_addr:%s" ;;
    subnet_mask) echo "subnet_mask:%s" ;;
    default_gw_ip_addr) echo "default_gw_ip_addr:%s" ;;
    *_mac_addr) echo "$p:00:00:00:00:00:00" ;;
    *) echo "$p:0.0.0.0" ;;
  esac
done
`

// StartIPMISimVM starts ipmi_sim in ns as the BMC of a QEMU guest (config B of
// ../shared/notes/bmc.md §4.3): RMCP+ on addr:623 (addr must be an address of ns),
// power on/off/cycle/reset start and stop QEMU (in ns too, so the guest's tap can be
// on a bridge there) and the boot device picks the QEMU arguments of the next start.
// The guest also has QEMU's ipmi-bmc-extern + isa-ipmi-kcs device connected to
// ipmi_sim's "VM" serial codec, so its OS sees this BMC (ACPI IPI0001) and reads
// cfg.LAN through /dev/ipmi0. The guest starts powered off. ipmi_sim and QEMU are
// stopped when the test ends; Console has the guest's serial console of every boot.
func StartIPMISimVM(t testing.TB, ns *NS, addr string, cfg IPMIVMConfig) *IPMISim {
	t.Helper()
	s := newIPMISim(t, addr, 623)
	vmPort, qmpPort := FreeTCPPort(t), FreeTCPPort(t)
	lan := filepath.Join(s.dir, "lan-config.sh")
	l := cfg.LAN
	if err := os.WriteFile(lan, []byte(fmt.Sprintf(ipmiVMLAN, l.Address, l.MAC, l.Netmask, l.Gateway)), 0o700); err != nil {
		t.Fatal(err)
	}
	s.writeConf(t, cfg.Password, ipmiVMChassis, fmt.Sprintf("    lan_config_program \"%s\"\n", lan),
		fmt.Sprintf("  serial 15 127.0.0.1 %d codec VM\n", vmPort))
	if err := os.WriteFile(filepath.Join(s.dir, "qmp.port"), []byte(strconv.Itoa(qmpPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"qemu-system-x86_64", "-pidfile", filepath.Join(s.dir, "qemu.pid"), "-nographic", "-monitor", "none",
		"-chardev", "file,id=ser0,append=on,path=" + filepath.Join(s.dir, "console.log"), "-serial", "chardev:ser0",
		"-qmp", fmt.Sprintf("tcp:127.0.0.1:%d,server=on,wait=off", qmpPort),
		"-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=1", vmPort),
		"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0"}
	boots := map[string][]string{"default": nil}
	for dev, args := range cfg.Boot {
		boots[dev] = args
	}
	for dev, args := range boots {
		script := "#!/bin/sh\nexec " + shellQuote(append(append(append([]string{}, common...), cfg.Args...), args...)) + "\n"
		if err := os.WriteFile(filepath.Join(s.dir, "start-"+dev+".sh"), []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := ns.Start(nil, append([]string{s.bin}, s.args()...)...)
	t.Cleanup(func() { p.Stop(); s.killQEMU() })
	WaitFor(t, 10*time.Second, "ipmi_sim to listen on "+addr, func() bool {
		if p.Exited() {
			t.Fatalf("ipmi_sim exited: %s", p.Output())
		}
		out, _ := ns.Cmd(t.Context(), "ss", "-Hlnu", "src", addr).Output()
		return strings.Contains(string(out), addr+":623")
	})
	return s
}

// shellQuote quotes each argument for /bin/sh.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// QEMUPID is the guest's QEMU process id, 0 when the guest is off.
func (s *IPMISim) QEMUPID() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "qemu.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid <= 0 || err != nil || !strings.Contains(string(cmdline), filepath.Join(s.dir, "qemu.pid")) {
		return 0 // gone, or a zombie (empty cmdline), or the pid was reused
	}
	return pid
}

// Starts is the boot device of each QEMU start, in order ("pxe", "default", ...).
func (s *IPMISim) Starts() []string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "starts.log"))
	return strings.Fields(string(b))
}

// Console is the guest's serial console, every boot appended.
func (s *IPMISim) Console() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "console.log"))
	return string(b)
}

// killQEMU stops the guest (after ipmi_sim, so nothing starts it again).
func (s *IPMISim) killQEMU() {
	for i := 0; i < 50; i++ {
		pid := s.QEMUPID()
		if pid == 0 {
			return
		}
		syscall.Kill(pid, syscall.SIGKILL)
		time.Sleep(100 * time.Millisecond)
	}
}
