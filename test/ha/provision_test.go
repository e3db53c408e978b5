package ha

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

const (
	guestMAC = "52:54:00:4a:00:01"
	// stage2MiB is the stage2's file system; two thirds of it random, so the
	// download lasts long enough for the kill to land in it.
	stage2MiB = 48
)

const rackPodYAML = `name: rack
match:
  - giaddr: 192.0.2.1
subnets:
  - cidr: 192.0.2.0/25
    gateway: 192.0.2.1
    dns: [192.0.2.53]
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.120
serverAddress: 198.51.100.11
management:
  cidr: 198.51.100.0/24
  gateway: 198.51.100.1
  vlan: 100
  dns: [198.51.100.53]
  domain: rack.example
profile: ha
`

// TestProvisionWhileOwnerKilled: a QEMU host provisions through three replicas (one CA,
// copied into each data dir before its first start; a stage2 of 48 MiB pushed through
// r1 with artifacts.minCopies 3, so every replica holds it). Once the agent has begun
// the stage2 download from its pod's owner, the owner is SIGKILLed. The host still
// reaches provisioned with netboot off and its events complete, and the agent's
// console shows the interrupted download resumed on another replica. `replica list`
// (table and json) is checked on every replica before, and on one after the kill.
func TestProvisionWhileOwnerKilled(t *testing.T) {
	testutil.RequireRoot(t, "qemu-system-x86_64", "mkfs.ext4", "dpkg-deb", "dhcrelay")
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	deb := testutil.DebianGenericKernelDeb(t)
	c := newNetwork(t, true)
	c.boot = []string{"--config", writeFile(t, "serve.yaml", "artifacts:\n  minCopies: 3\n")}
	c.startSharedCA()
	r1 := c.nodes[0]
	pki := filepath.Join(r1.data, "pki")

	// CI: a code-signing certificate, a ci token, stage1 built for the shared CA, a
	// stage2 pushed through r1 (returns once all three replicas hold each blob).
	testutil.Run(t, work, c.bin, "ca", "issue", "--code-signing", "ci", "--dir", pki, "--out", work)
	ci := r1.cli.WithToken(strings.TrimSpace(r1.cli.MustRun(t, "token", "create", "ci-pipeline", "--role", "ci", "--allow-kind", "stage2,kernel,initrd")))
	testutil.Run(t, src, c.bin, "stage1", "build", "--modules-deb", deb, "--root-ca", filepath.Join(pki, "ca.pem"), "--out", filepath.Join(work, "stage1"), "--src", src)
	push := func(ref, file, kind string) {
		testutil.Run(t, work, c.bin, "image", "sign", "--cert", filepath.Join(work, "ci.pem"), "--key", filepath.Join(work, "ci.key"), file, "-o", file+".p7s")
		ci.MustRun(t, "image", "push", ref, file, "--sig", file+".p7s", "--kind", kind)
	}
	push("stage1-kernel:1", filepath.Join(work, "stage1", "vmlinuz"), "kernel")
	push("stage1-initrd:1", filepath.Join(work, "stage1", "initrd.img"), "initrd")
	filler := make([]byte, (stage2MiB-16)<<20) // ext4 keeps the rest (journal, tables)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(filler)
	img := testutil.Stage2Image(t, work, "os", stage2MiB, map[string][]byte{
		"etc/passwd": []byte("root:x:0:0:root:/root:/bin/sh\n"), "etc/shadow": []byte("root:*:19000:0:99999:7:::\n"),
		"etc/hostname": []byte("stage2-template\n"), "var/filler": filler,
	})
	pushed := time.Now()
	push("os:1", img, "stage2")
	t.Logf("stage2 of %d MiB pushed to 3 replicas in %s", stage2MiB+2, time.Since(pushed).Round(time.Millisecond))

	// Operator: profile, pod, host; the relay forwards to all three replicas.
	r1.cli.MustRun(t, "profile", "apply", "-f", writeFile(t, "ha.yaml", "name: ha\nkernel: stage1-kernel@1\ninitrd: stage1-initrd@1\nkernelArgs: console=ttyS0 panic=-1\nstage2: os@1\n"))
	r1.cli.MustRun(t, "pod", "apply", "-f", writeFile(t, "rack.yaml", rackPodYAML))
	r1.cli.MustRun(t, "host", "add", guestMAC, "--pod", "rack", "--hostname", "node1", "--mgmt-ip", "198.51.100.21")
	owner := c.ownerNode("rack")
	c.checkReplicaList([]string{"rack"})
	var other *node
	for _, n := range c.nodes {
		if n != owner {
			other = n
			break
		}
	}
	tor := c.pods[0].tor // its rack address 192.0.2.1 is the relay's giaddr
	tor.StartRelay(c.nodes[0].addr, c.nodes[1].addr, c.nodes[2].addr)

	begin := time.Now()
	disk := testutil.NewDisk(t, filepath.Join(work, "disk.img"), 64)
	vm := testutil.StartGuest(t, tor, "ha", guestMAC, disk)
	testutil.WaitFor(t, 4*time.Minute, "the agent to start the stage2 download", func() bool {
		if vm.Exited() {
			t.Fatalf("guest exited before the stage2 download:\n%s", vm.Output())
		}
		return slices.Contains(actions(hostEvents(t, other)), "agent.chainload")
	})
	// The owner's HTTPS connection to the guest has carried a few MiB: the kill lands in
	// the stage2 body, not in the fetch of its signature.
	testutil.WaitFor(t, time.Minute, "the owner to send 4 MiB of the stage2", func() bool {
		return sentToGuest(owner) > 4<<20
	})
	killed := time.Now()
	if err := owner.proc.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (owner of rack) SIGKILLed %s after power-on, 4 MiB into the stage2", owner.name, killed.Sub(begin).Round(time.Millisecond))
	testutil.WaitFor(t, 5*time.Minute, "the host to install and power off", vm.Exited)
	t.Logf("host powered off %s after the kill", time.Since(killed).Round(time.Millisecond))
	c.checkListAfterKill(owner, 1)

	var h podmgr.Host
	if err := json.Unmarshal([]byte(other.cli.MustRun(t, "host", "show", guestMAC, "-o", "json")), &h); err != nil {
		t.Fatal(err)
	}
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("host: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, vm.Output())
	}
	evs := hostEvents(t, other)
	want := []string{"registered", "dhcp.offer", "token.issued", "http.script", "agent.booted", "agent.network",
		"agent.chainload", "agent.verified", "installed"}
	if !testutil.InOrder(actions(evs), want) {
		t.Fatalf("events %v, want in order %v", actions(evs), want)
	}
	var states []string
	for _, e := range evs {
		if e.State != "" && (len(states) == 0 || states[len(states)-1] != string(e.State)) {
			states = append(states, string(e.State))
		}
	}
	if !testutil.InOrder(states, []string{"registered", "offered", "booting", "verified", "installing", "provisioned"}) {
		t.Fatalf("state transitions %v", states)
	}
	// The kill landed in the download (a byte offset past 0), and the agent went on with
	// the next replica.
	out := vm.Output()
	resumed := regexp.MustCompile(`stage2 download interrupted; resuming.*offset=([1-9][0-9]*)`).FindString(out)
	if resumed == "" || !strings.Contains(out, "trying the next podboot replica") {
		t.Fatalf("the console shows no resumed download (%q) or no failover to another replica:\n%s", resumed, out)
	}
	t.Logf("agent: %s", resumed)
}

// startSharedCA starts r1, then r2 and r3 with r1's pki/ and admin token copied into
// their data dirs before their first start: the agent pins one CA.
func (c *cluster) startSharedCA() {
	t := c.t
	r1 := c.nodes[0]
	c.start(r1)
	r1.cli = r1.ns.CLI(c.bin, r1.data, "127.0.0.1:9443")
	testutil.WaitFor(t, 60*time.Second, "r1 to serve", func() bool {
		_, _, err := r1.cli.Run(context.Background(), "pod", "list")
		return err == nil
	})
	for _, n := range c.nodes[1:] {
		testutil.Run(t, n.data, "cp", "-a", filepath.Join(r1.data, "pki"), filepath.Join(r1.data, "admin.token"), n.data+"/")
		c.start(n)
		n.cli = n.ns.CLI(c.bin, n.data, "127.0.0.1:9443")
	}
	for _, n := range c.nodes {
		c.waitUp(n, 3)
	}
}

// sentToGuest is the most bytes the guest has acknowledged on one of n's HTTPS
// connections (ss, in n's namespace).
func sentToGuest(n *node) int64 {
	var most int64
	out := n.ns.Run("ss", "-tinH", "state", "established", "( sport = :8443 )")
	for _, m := range regexp.MustCompile(`bytes_acked:([0-9]+)`).FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseInt(m[1], 10, 64); err == nil && v > most {
			most = v
		}
	}
	return most
}

func hostEvents(t *testing.T, n *node) []podmgr.Event {
	t.Helper()
	var evs []podmgr.Event
	if err := json.Unmarshal([]byte(n.cli.MustRun(t, "host", "events", guestMAC, "-o", "json")), &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

func actions(evs []podmgr.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}
