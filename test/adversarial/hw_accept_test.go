package adversarial

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// hwDiscover makes an unknown machine in pod-nat report inv as its inspection would: a
// real DHCP exchange through the relay (it becomes discovered), the iPXE script for its
// token, then the agent's inventory call with curl.
func hwDiscover(t *testing.T, b *bootServe, name, mac string, inv agentproto.Inventory) {
	t.Helper()
	host := b.torA.Host(name, mac)
	host.Run("udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", b.udhcpcScript)
	testutil.WaitFor(t, 10*time.Second, mac+" to be recorded as discovered", func() bool {
		return strings.Contains(b.cli.MustRun(t, "host", "show", mac), "discovered")
	})
	tok := bootToken(t, host, "pod-nat", mac)
	body, _ := json.Marshal(inv)
	out := host.Run("curl", "-s", "-w", "\n%{http_code}", "--cacert", filepath.Join(b.data, "pki", "ca.pem"), "-H", "Authorization: Bearer "+tok,
		"-X", "POST", "--data-binary", string(body), "https://"+bootServer+":8443/agent/v1/hosts/"+strings.ReplaceAll(mac, ":", "-")+"/inventory")
	if !strings.HasSuffix(out, "\n204") {
		t.Fatalf("inventory of %s: %q", mac, out)
	}
}

func hwInventory(serial, port string) agentproto.Inventory {
	return agentproto.Inventory{System: agentproto.System{Vendor: "PodbootLab", Product: "HW-R", Serial: serial}, CPU: agentproto.CPU{Count: 2},
		Disks: []agentproto.Disk{{Name: "sda", Model: "PB SSD", Serial: serial + "-D0", SizeBytes: 64 << 20, Bus: "ata"}},
		NICs:  []agentproto.NIC{{Name: "eth0", Link: true, LLDP: &agentproto.LLDP{ChassisID: "02:00:00:00:00:aa", PortID: port, SystemName: "tor-a"}}}}
}

// TestHWAcceptRulesAndSerialImport (issue 14) drives discovery as the agent does
// against the real binary: a pod accept rule registers the machine cabled to switch
// port Ethernet1/7 as rack1-node7 (an "accepted" event by accept-rule, not installed
// during the inspection); a second machine claiming the same port is left discovered
// with the reason; a machine no rule matches is found by host list --where and
// accepted by host import of a CSV keyed by its serial, whose BMC columns set its BMC
// without the password ever being in the CSV or printed.
func TestHWAcceptRulesAndSerialImport(t *testing.T) {
	b := bootStart(t)
	work := t.TempDir()
	pods := filepath.Join(work, "pods.yaml")
	bootWrite(t, pods, bootPodYAML("pod-nat", "192.0.2.1", "192.0.2.0/24", "192.0.2.100", "192.0.2.150")+
		"unknownHosts: discover\nacceptRules:\n  - lldpPort: Ethernet1/{n}\n    lldpSystem: tor-a\n    hostname: rack1-node{n}\n")
	b.cli.MustRun(t, "pod", "apply", "-f", pods)

	const byPort, samePort, bySerial = "52:54:00:ad:c0:07", "52:54:00:ad:c0:17", "52:54:00:ad:c0:21"
	hwDiscover(t, b, "port7", byPort, hwInventory("PB-R-7", "Ethernet1/7"))
	h := showHost(t, b, byPort)
	if h.Discovered || h.Hostname != "rack1-node7" || h.State != podmgr.StateRegistered {
		t.Fatalf("host on Ethernet1/7: %+v, want registered as rack1-node7", h)
	}
	ev := lastEvent(t, b, byPort)
	if ev.Action != "accepted" || ev.Actor != "accept-rule" || !strings.Contains(ev.Source, "acceptRules[0]") || !strings.Contains(ev.Detail, "Ethernet1/7 of tor-a") {
		t.Fatalf("accept event %+v", ev)
	}

	hwDiscover(t, b, "port7b", samePort, hwInventory("PB-R-17", "Ethernet1/7"))
	if h := showHost(t, b, samePort); !h.Discovered || h.Hostname != "" {
		t.Fatalf("second machine on Ethernet1/7: %+v, want still discovered", h)
	}
	if ev := lastEvent(t, b, samePort); ev.Action != "accept-rule.refused" || !strings.Contains(ev.Detail, "rack1-node7") {
		t.Fatalf("refusal event %+v", ev)
	}

	hwDiscover(t, b, "serial", bySerial, hwInventory("PB-IMPORT-1", "swp9"))
	if h := showHost(t, b, bySerial); !h.Discovered {
		t.Fatalf("machine no rule matches: %+v, want discovered", h)
	}
	for _, where := range [][]string{{"--where", "serial=pb-import-1"}, {"--where", "serial=PB-IMPORT-1-D0"}, {"--where", "vendor=PodbootLab", "--where", "serial=PB-IMPORT-1", "--pod", "pod-nat"}} {
		out := b.cli.MustRun(t, append([]string{"host", "list"}, where...)...)
		if !strings.Contains(out, bySerial) || strings.Contains(out, byPort) {
			t.Errorf("host list %v:\n%s", where, out)
		}
	}
	if out := b.cli.MustRun(t, "host", "list", "--where", "serial=PB-NOBODY"); strings.Contains(out, "52:54:00") {
		t.Errorf("host list for an unknown serial:\n%s", out)
	}
	b.cli.MustFail(t, "host", "list", "--where", "colour=red")

	const pw = "import-bmc-s3cret"
	if err := os.WriteFile(filepath.Join(work, "node21.pw"), []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(work, "hosts.csv")
	bootWrite(t, csv, "serial,pod,hostname,mgmt_ip,bmc_driver,bmc_address,bmc_user,bmc_password_file\nPB-NOBODY,pod-nat,ghost,,,,,\n")
	if out := b.cli.MustFail(t, "host", "import", "-f", csv); !strings.Contains(out, "PB-NOBODY") || !strings.Contains(out, "nothing was accepted") {
		t.Fatalf("import of an undiscovered serial: %s", out)
	}
	bootWrite(t, csv, "serial,pod,hostname,mgmt_ip,bmc_driver,bmc_address,bmc_user,bmc_password_file\nPB-IMPORT-1,pod-nat,rack1-node21,,ipmi,192.0.2.221,admin,node21.pw\n")
	out := b.cli.MustRun(t, "host", "import", "-f", csv)
	if !strings.Contains(out, "accepted as rack1-node21") || !strings.Contains(out, "1 BMCs set") || strings.Contains(out, pw) {
		t.Fatalf("host import by serial:\n%s", out)
	}
	if h := showHost(t, b, bySerial); h.Discovered || h.Hostname != "rack1-node21" {
		t.Fatalf("after import: %+v", h)
	}
	if ev := lastEvent(t, b, bySerial); ev.Action != "accepted" || !strings.Contains(ev.Detail, "import serial PB-IMPORT-1") {
		t.Fatalf("import accept event %+v", ev)
	}
	if out := b.cli.MustRun(t, "host", "bmc", "show", bySerial, "-o", "json"); !strings.Contains(out, "192.0.2.221") || strings.Contains(out, pw) {
		t.Fatalf("bmc of the imported host:\n%s", out)
	}
}

func showHost(t *testing.T, b *bootServe, mac string) podmgr.Host {
	t.Helper()
	var h podmgr.Host
	if err := json.Unmarshal([]byte(b.cli.MustRun(t, "host", "show", mac, "-o", "json")), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func lastEvent(t *testing.T, b *bootServe, mac string) podmgr.Event {
	t.Helper()
	var evs []podmgr.Event
	if err := json.Unmarshal([]byte(b.cli.MustRun(t, "host", "events", mac, "-o", "json")), &evs); err != nil || len(evs) == 0 {
		t.Fatalf("events of %s: %v %v", mac, evs, err)
	}
	return evs[len(evs)-1]
}
