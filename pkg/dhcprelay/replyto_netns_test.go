package dhcprelay_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// sharedGiaddrPods are two pods behind two ToRs whose relays both use giaddr 192.0.2.1
// (the same rack subnet in two sites), told apart by the relay's source address. match
// is the match rule's extra line for each ToR's WAN address; replyTo is the pods' reply
// routing.
func sharedGiaddrPods(replyTo string, match func(wan string) string) string {
	pod := func(name, wan string) string {
		return fmt.Sprintf(`name: %s
profile: default
serverAddress: 198.51.100.10
unknownHosts: lease
replyTo: %s
match:
  - %s
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    domain: %s.example
    leaseSeconds: 600
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
`, name, replyTo, match(wan), name)
	}
	return pod("pod-x", "198.51.100.2") + "---\n" + pod("pod-y", "198.51.100.3")
}

// TestReplyToSharedGiaddr: two ToRs with ISC dhcrelay share giaddr 192.0.2.1, and the
// central node routes 192.0.2.1 to one of them (no policy routing). Replies to giaddr
// reach only that ToR; with replyTo relaySource each reply goes to the relay it came
// from, and ISC dhcrelay accepts it (it finds its downstream link by giaddr). RFC 3527
// link selection (dhcrelay -U: a unique giaddr, the rack address in option 82
// sub-option 5) serves both with replyTo giaddr.
func TestReplyToSharedGiaddr(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "udhcpc")
	bin := testutil.BuildPodboot(t)
	data, work := t.TempDir(), t.TempDir()
	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	torX := tp.ToR(central, "x", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	torY := tp.ToR(central, "y", "198.51.100.3/24", "192.0.2.1/24", "198.51.100.10") // central routes 192.0.2.1 here
	const api = "127.0.0.1:9443"
	startServeIn(t, central, bin, data, api)
	cli := central.CLI(bin, data, api)
	apply := func(pods string) {
		t.Helper()
		f := filepath.Join(work, "pods.yaml")
		if err := os.WriteFile(f, []byte(pods), 0o644); err != nil {
			t.Fatal(err)
		}
		cli.MustRun(t, "pod", "apply", "-f", f)
	}
	if err := os.WriteFile(filepath.Join(work, "profile.yaml"), []byte("name: default\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli.MustRun(t, "profile", "apply", "-f", filepath.Join(work, "profile.yaml"))
	hostX := torX.Host("x1", "52:54:00:0e:00:01")
	hostY := torY.Host("y1", "52:54:00:0e:00:02")
	bySource := func(wan string) string { return "giaddr: 192.0.2.1\n    relaySource: " + wan }
	lease := func(ns *testutil.NS, name string) string {
		v := ns.Udhcpc(t, work, name, "-t", "2")
		if v == nil {
			return ""
		}
		return v["ip"] + " " + v["domain"]
	}

	relayX, relayY := torX.StartRelay("198.51.100.10"), torY.StartRelay("198.51.100.10")
	t.Run("replyTo giaddr: the other ToR's host gets nothing", func(t *testing.T) {
		apply(sharedGiaddrPods("giaddr", bySource))
		if got := lease(hostY, "y-giaddr"); got != "192.0.2.100 pod-y.example" {
			t.Errorf("host behind the routed ToR: lease %q", got)
		}
		if got := lease(hostX, "x-giaddr"); got != "" {
			t.Errorf("host behind the other ToR got %q: its replies should have been routed to the wrong ToR", got)
		}
	})
	t.Run("replyTo relaySource: both served", func(t *testing.T) {
		apply(sharedGiaddrPods("relaySource", bySource))
		if got := lease(hostX, "x-source"); got != "192.0.2.100 pod-x.example" {
			t.Errorf("host behind ToR x: lease %q", got)
		}
		if got := lease(hostY, "y-source"); got != "192.0.2.100 pod-y.example" {
			t.Errorf("host behind ToR y: lease %q", got)
		}
	})
	relayX.Stop()
	relayY.Stop()

	t.Run("RFC 3527 link selection with a unique giaddr: both served", func(t *testing.T) {
		// ISC dhcrelay 4.4.3 forwards nothing with -U and -iu/-id (it adds option 82,
		// then drops the packet); -U wan with -i rack works.
		for _, tor := range []*testutil.ToR{torX, torY} {
			p := tor.Start(nil, "dhcrelay", "-d", "-4", "-U", "wan", "-i", "rack", "198.51.100.10")
			testutil.WaitFor(t, 10*time.Second, "dhcrelay -U to start", func() bool {
				return strings.Count(p.Output(), "Sending on") >= 2 || p.Exited()
			})
		}
		apply(sharedGiaddrPods("giaddr", func(wan string) string { return "giaddr: " + wan + "\n    linkSelection: 192.0.2.1" }))
		if got := lease(hostX, "x-link"); got != "192.0.2.100 pod-x.example" {
			t.Errorf("host behind ToR x: lease %q", got)
		}
		if got := lease(hostY, "y-link"); got != "192.0.2.100 pod-y.example" {
			t.Errorf("host behind ToR y: lease %q", got)
		}
	})
}
