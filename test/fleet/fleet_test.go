package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The topology: podboot in central (198.51.100.10, DHCP on 67, a wrong-port probe on
// 6767); ToR a (WAN 198.51.100.2, rack 192.0.2.0/24) relays pod-a correctly. The
// misconfigured relays come later: ToR w relays the same rack giaddr from another source
// (198.51.100.7), ToR g relays a giaddr no pod has (203.0.113.1), ToR c relays pod-c's
// rack without the option 82 its rule needs, and ToR a's relay restarted on port 6767.
const (
	server   = "198.51.100.10"
	relayA   = "198.51.100.2"
	macStuck = "52:54:00:f1:00:01" // its agent never calls
	macDone  = "52:54:00:f1:00:02" // provisioned by curl playing its agent
)

const serveYAML = `fleet:
  deadlineEvery: 200ms
dhcp:
  probeAddrs: [":6767"]
`

const podsYAML = `name: pod-a
profile: fast
serverAddress: 198.51.100.10
match:
  - giaddr: 192.0.2.1
    relaySource: 198.51.100.2
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
---
name: pod-c
profile: fast
serverAddress: 198.51.100.10
match:
  - giaddr: 203.0.113.129
    circuitId: rack
subnets:
  - cidr: 203.0.113.128/25
    gateway: 203.0.113.129
    rangeStart: 203.0.113.200
    rangeEnd: 203.0.113.250
`

// The agent deadline is short: a host whose agent does not call within 4 s of its
// kernel and initrd is failed.
const profileYAML = `name: fast
kernel: fl-kernel@1
initrd: fl-initrd@1
deadlines:
  agent: 4
`

// hostScript configures the bound lease, as firmware would, and records its variables.
const hostScript = `#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/$mask" dev "$interface"
ip route replace default via "$router"
env > "$OUT"
`

var scriptURLs = regexp.MustCompile(`(?m)^(?:kernel|initrd) (http://\S+)`)
var tokenRE = regexp.MustCompile(`podboot\.token=(pbh_[A-Za-z0-9_-]+)`)

type env struct {
	t       *testing.T
	tp      *testutil.Topology
	central *testutil.NS
	torA    *testutil.ToR
	relayA  *testutil.Proc
	cli     *testutil.CLI
	data    string
	work    string
}

func start(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t, "dhcrelay", "udhcpc", "dhclient", "curl")
	bin := testutil.BuildPodboot(t)
	e := &env{t: t, tp: testutil.NewTopology(t), data: t.TempDir(), work: t.TempDir()}
	cfg := e.write("serve.yaml", serveYAML)
	e.central = e.tp.Central(server + "/24")
	e.torA = e.tp.ToR(e.central, "a", relayA+"/24", "192.0.2.1/24", server)
	e.torA.RouteRack("192.0.2.0/24")
	serve := e.central.Start([]string{"PODBOOT_DHCP_ADDR=:67", "PODBOOT_TFTP_ADDR=:69", "PODBOOT_HTTP_ADDR=:8080", "PODBOOT_HTTPS_ADDR=:8443"},
		bin, "serve", "--config", cfg, "--data-dir", e.data, "--api-addr", "127.0.0.1:9443")
	testutil.WaitFor(t, 30*time.Second, "podboot to serve", func() bool {
		if serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", serve.Output())
		}
		return strings.Contains(serve.Output(), "podboot serving")
	})
	e.cli = e.central.CLI(bin, e.data, "127.0.0.1:9443")
	for _, f := range []struct{ name, kind string }{{"undionly.kpxe", "bootloader"}, {"fl-kernel", "kernel"}, {"fl-initrd", "initrd"}} {
		p := e.write(f.name, strings.Repeat(f.name, 4096))
		e.cli.MustRun(t, "image", "add", p, "--kind", f.kind, "--name", f.name, "--version", "1")
	}
	e.cli.MustRun(t, "profile", "apply", "-f", e.write("profile.yaml", profileYAML))
	e.cli.MustRun(t, "pod", "apply", "-f", e.write("pods.yaml", podsYAML))
	e.cli.MustRun(t, "host", "add", macStuck, "--pod", "pod-a", "--hostname", "stuck")
	e.cli.MustRun(t, "host", "add", macDone, "--pod", "pod-a", "--hostname", "done")
	e.relayA = e.torA.StartRelay(server)
	return e
}

func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.work, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// bootToKernel does what a host's firmware and iPXE do up to kernel and initrd: DHCP
// through the relay, the bootloader over TFTP, the iPXE script and both files over HTTP.
// It returns the host's provisioning token.
func (e *env) bootToKernel(ns *testutil.NS, name string) string {
	e.t.Helper()
	out := filepath.Join(e.work, name+".lease")
	// PXE firmware's vendor class and client architecture (BIOS): podboot offers a boot
	// program only to those.
	ns.Run("env", "OUT="+out, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", e.write("host.sh", hostScript),
		"-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
	lease, err := os.ReadFile(out)
	if err != nil {
		e.t.Fatalf("%s got no lease: %v", name, err)
	}
	bootFile := ""
	for _, l := range strings.Split(string(lease), "\n") {
		if v, ok := strings.CutPrefix(l, "boot_file="); ok {
			bootFile = v
		}
	}
	if bootFile == "" {
		e.t.Fatalf("%s's lease has no boot file:\n%s", name, lease)
	}
	ns.Run("curl", "-sf", "-o", "/dev/null", "tftp://"+server+"/"+bootFile)
	mac := strings.ToLower(strings.TrimSpace(ns.Run("cat", "/sys/class/net/eth0/address")))
	script := ns.Run("curl", "-sf", "http://"+server+":8080/boot/pod-a/"+strings.ReplaceAll(mac, ":", "-")+"/script.ipxe")
	urls := scriptURLs.FindAllStringSubmatch(script, -1)
	tok := tokenRE.FindStringSubmatch(script)
	if len(urls) != 2 || tok == nil {
		e.t.Fatalf("iPXE script without kernel, initrd or token:\n%s", script)
	}
	for _, u := range urls {
		ns.Run("curl", "-sf", "-o", "/dev/null", u[1])
	}
	return tok[1]
}

// agent makes one stage1 agent call from ns.
func (e *env) agent(ns *testutil.NS, mac, tok, path, body string) {
	e.t.Helper()
	code := ns.Run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", filepath.Join(e.data, "pki", "ca.pem"),
		"-H", "Authorization: Bearer "+tok, "-H", "Content-Type: application/json", "-X", "POST", "--data", body,
		"https://"+server+":8443/agent/v1/hosts/"+strings.ReplaceAll(mac, ":", "-")+"/"+path)
	if code != "204" {
		e.t.Fatalf("agent %s %s: HTTP %s", path, body, code)
	}
}

func jsonOut[T any](t *testing.T, cli *testutil.CLI, args ...string) T {
	t.Helper()
	var v T
	out := cli.MustRun(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
	}
	return v
}

func stages(t fleet.Timeline) string {
	var s []string
	for _, m := range t.Marks {
		s = append(s, string(m.Stage))
	}
	return strings.Join(s, ",")
}

// TestFleetView drives two hosts of pod-a through the real relay: one whose agent never
// calls is failed by the profile's 4 s agent deadline, stuck in stage agent; one whose
// agent (curl) reports booted, verified and installed is provisioned. host timeline and
// pod status show both. Then misconfigured relays send real DHCP, and pod check names
// each mistake.
func TestFleetView(t *testing.T) {
	e := start(t)

	stuck := e.torA.Host("stuck", macStuck)
	e.bootToKernel(stuck, "stuck")
	testutil.WaitFor(t, 60*time.Second, "the stuck host to be failed by its deadline", func() bool {
		return jsonOut[podmgr.Host](t, e.cli, "host", "show", macStuck).State == podmgr.StateFailed
	})
	h := jsonOut[podmgr.Host](t, e.cli, "host", "show", macStuck)
	if !strings.Contains(h.StateReason, "stuck in agent") || !h.Netboot {
		t.Errorf("failed host: reason %q netboot %v; want stuck in agent, netboot on", h.StateReason, h.Netboot)
	}
	tl := jsonOut[fleet.HostTimelineResult](t, e.cli, "host", "timeline", macStuck)
	if len(tl.Attempts) != 1 || tl.Attempts[0].Outcome != fleet.OutcomeFailed || tl.Attempts[0].Stuck != fleet.StageAgent ||
		stages(tl.Attempts[0]) != "dhcp,bootloader,script,kernel" {
		t.Errorf("stuck host's timeline: %+v", tl)
	}

	done := e.torA.Host("done", macDone)
	tok := e.bootToKernel(done, "done")
	e.agent(done, macDone, tok, "events", `{"action":"agent.booted","detail":"test"}`)
	e.agent(done, macDone, tok, "events", `{"action":"agent.verified","detail":"test"}`)
	e.agent(done, macDone, tok, "installed", `{"disk":"/dev/vda","sha256":"00","finish":"reboot"}`)
	tl = jsonOut[fleet.HostTimelineResult](t, e.cli, "host", "timeline", macDone)
	if len(tl.Attempts) != 1 || tl.Attempts[0].Outcome != fleet.OutcomeInstalled || stages(tl.Attempts[0]) != "dhcp,bootloader,script,kernel,agent,stage2,installed" {
		t.Errorf("provisioned host's timeline: %+v", tl)
	}
	table := e.cli.MustRun(t, "host", "timeline", macDone)
	if !strings.Contains(table, "installed in") || !strings.Contains(table, "kernel") || !strings.Contains(table, "agent.verified") {
		t.Errorf("timeline table:\n%s", table)
	}

	st := jsonOut[fleet.PodStatus](t, e.cli, "pod", "status", "pod-a")
	if st.Hosts != 2 || st.HostsByState[podmgr.StateFailed] != 1 || st.HostsByState[podmgr.StateProvisioned] != 1 ||
		st.ProvisionedDay != 1 || st.ProvisionedHour != 1 || st.FailedDay != 1 {
		t.Errorf("pod status counts: %+v", st)
	}
	if len(st.Failures) != 1 || st.Failures[0].Stage != fleet.StageAgent || st.Failures[0].LastMAC != macStuck {
		t.Errorf("pod status failures: %+v", st.Failures)
	}
	var total fleet.Latency
	for _, l := range st.Latency {
		if l.Stage == fleet.StageTotal {
			total = l
		}
	}
	if total.Count != 1 || total.P50 <= 0 || total.P99 < total.P50 {
		t.Errorf("pod status latency: %+v", st.Latency)
	}
	if len(st.Relays) != 1 || st.Relays[0].Source != relayA || st.Relays[0].Giaddr != "192.0.2.1" || st.Relays[0].Silent {
		t.Errorf("pod status relays: %+v", st.Relays)
	}
	all := jsonOut[[]fleet.PodStatus](t, e.cli, "pod", "status")
	if len(all) != 2 || all[0].Pod != "pod-a" || all[1].Pod != "pod-c" {
		t.Errorf("pod status of all pods: %+v", all)
	}
	if out := e.cli.MustRun(t, "pod", "status", "pod-a"); !strings.Contains(out, "FAILED IN") || !strings.Contains(out, "stuck in agent") {
		t.Errorf("pod status table:\n%s", out)
	}

	e.misconfigure()
	want := map[string][]string{
		"pod-a": {fleet.FindWrongRelaySource + ": packets from 198.51.100.7 with giaddr 192.0.2.1 match no pod; pod pod-a expects relay source 198.51.100.2",
			fleet.FindGiaddrOutsidePods + ": packets from 198.51.100.8 with giaddr 203.0.113.1 match no pod: giaddr 203.0.113.1 is outside every pod's subnets",
			fleet.FindWrongPort + ": relay 198.51.100.2 (giaddr 192.0.2.1) sends to UDP port 6767; podboot serves relayed DHCP on port 67"},
		"pod-c": {fleet.FindMissingOption82 + ": packets from 198.51.100.9 with giaddr 203.0.113.129 match no pod and carry no option 82 circuitId"},
	}
	for pod, findings := range want {
		var out string
		defer func() {
			if t.Failed() {
				t.Logf("last pod check %s:\n%s", pod, out)
			}
		}()
		testutil.WaitFor(t, 30*time.Second, "pod check "+pod+" to name every mistake", func() bool {
			out = e.cli.MustRun(t, "pod", "check", pod, "--minutes", "10")
			for _, f := range findings {
				if !strings.Contains(out, f) {
					return false
				}
			}
			return true
		})
		t.Logf("pod check %s:\n%s", pod, out)
	}
	rep := jsonOut[fleet.CheckReport](t, e.cli, "pod", "check", "pod-a")
	if len(rep.Relays) != 1 || rep.Relays[0].Rule != 0 || rep.Relays[0].Answered == 0 || rep.Relays[0].Option82 != 0 {
		t.Errorf("pod-a's relay in the check: %+v", rep.Relays)
	}
}

// misconfigure starts the misconfigured relays and sends DHCP through each from a host
// behind it (nothing answers: podboot sees them only through its relay log).
func (e *env) misconfigure() {
	t := e.t
	try := func(tor *testutil.ToR, name, mac string) {
		h := tor.Host(name, mac)
		ctx := filepath.Join(e.work, name+".lease")
		h.Cmd(t.Context(), "env", "OUT="+ctx, "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "2", "-T", "1", "-s", e.write("host.sh", hostScript)).Run()
	}
	torW := e.tp.ToR(e.central, "w", "198.51.100.7/24", "192.0.2.1/24", server)
	torW.StartRelay(server)
	try(torW, "w1", "52:54:00:f1:00:11")
	torG := e.tp.ToR(e.central, "g", "198.51.100.8/24", "203.0.113.1/25", server)
	torG.StartRelay(server)
	try(torG, "g1", "52:54:00:f1:00:12")
	torC := e.tp.ToR(e.central, "c", "198.51.100.9/24", "203.0.113.129/25", server)
	torC.StartRelay(server) // no -a: pod-c's rule needs circuit-id "rack"
	try(torC, "c1", "52:54:00:f1:00:13")
	// ToR a's relay restarted on port 6767 (dhcrelay -p sends to the server's 6767); its
	// host's dhclient uses the matching client port.
	_ = e.relayA.Stop() // SIGTERM: its exit status says "terminated"
	e.torA.StartRelay(server, "-p", "6767")
	p := e.torA.Host("p1", "52:54:00:f1:00:14")
	lf := filepath.Join(e.work, "p1.leases")
	p.Start(nil, "dhclient", "-4", "-d", "-1", "-p", "6768", "-sf", "/bin/true", "-lf", lf, "-pf", lf+".pid", "eth0")
}
