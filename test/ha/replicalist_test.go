package ha

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/replica"
)

// checkReplicaList runs `podboot replica list` through the real CLI on every replica
// (TestProvisionWhileOwnerKilled's three): the table and -o json agree on three live
// members with their advertised DHCP address, the answering one marked, and every pod
// owned by the replica the hash names and by no other.
func (c *cluster) checkReplicaList(pods []string) {
	t := c.t
	t.Helper()
	names := []string{"r1", "r2", "r3"}
	want := map[string][]string{} // replica -> pods the hash gives it
	for _, p := range pods {
		o := replica.Rendezvous(p, names)
		want[o] = append(want[o], p)
		c.ownerNode(p) // settled: the pod with its hash owner
	}
	for _, n := range c.nodes {
		var st replica.Status
		if err := json.Unmarshal([]byte(n.cli.MustRun(t, "replica", "list", "-o", "json")), &st); err != nil {
			t.Fatalf("replica list -o json on %s: %v", n.name, err)
		}
		if st.Replica != n.name || len(st.Members) != 3 || len(st.Unowned) != 0 {
			t.Fatalf("%s: replica %q, members %+v, unowned %v; want %s, 3 members, none unowned", n.name, st.Replica, st.Members, st.Unowned, n.name)
		}
		for i, m := range st.Members {
			if m.Name != names[i] || m.Health != replica.HealthLive || m.Self != (m.Name == n.name) || m.Advertise.DHCP != c.node(m.Name).addr {
				t.Errorf("%s lists member %d as %+v", n.name, i, m)
			}
			if strings.Join(m.Pods, ",") != strings.Join(want[m.Name], ",") {
				t.Errorf("%s: %s owns %v, the hash gives it %v", n.name, m.Name, m.Pods, want[m.Name])
			}
		}
		rows := tableRows(t, n.cli.MustRun(t, "replica", "list"))
		if len(rows) != 3 {
			t.Fatalf("%s: replica list table has %d rows, want 3: %v", n.name, len(rows), rows)
		}
		for i, r := range rows {
			name := names[i]
			if name == n.name {
				name += " (answered)"
			}
			if r["NAME"] != name || r["HEALTH"] != replica.HealthLive || r["PODS"] != strings.Join(want[names[i]], ",") || r["DHCP"] != c.node(names[i]).addr {
				t.Errorf("%s: table row %d is %v", n.name, i, r)
			}
		}
	}
}

// checkListAfterKill: once victim was SIGKILLed, a live replica's `replica list` (json
// and table) shows the two left, live, owning every pod between them.
func (c *cluster) checkListAfterKill(victim *node, pods int) {
	t := c.t
	t.Helper()
	var witness *node
	for _, n := range c.nodes {
		if n != victim {
			witness = n
			break
		}
	}
	var st replica.Status
	testutil.WaitFor(t, failoverLimit+10*time.Second, victim.name+"'s pods owned by the two left", func() bool {
		out, _, err := witness.cli.Run(context.Background(), "replica", "list", "-o", "json")
		st = replica.Status{}
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && len(st.Members) == 2 && len(st.Unowned) == 0
	})
	owned := 0
	for _, m := range st.Members {
		if m.Name == victim.name || m.Health != replica.HealthLive {
			t.Errorf("after the kill %s lists %+v", witness.name, m)
		}
		owned += len(m.Pods)
	}
	if owned != pods {
		t.Errorf("after the kill %d pods owned, want %d: %+v", owned, pods, st.Members)
	}
	if rows := tableRows(t, witness.cli.MustRun(t, "replica", "list")); len(rows) != 2 {
		t.Errorf("after the kill the table has %d rows, want 2: %v", len(rows), rows)
	}
}

// tableRows parses the CLI's table output (tabwriter): a header line, then one row per
// line; a column spans from its header's first character to the next header's, so an
// empty cell stays empty.
func tableRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := strings.Fields(lines[0])
	starts := make([]int, len(header))
	for i, h := range header {
		starts[i] = strings.Index(lines[0], h)
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		r := map[string]string{}
		for i, h := range header {
			end := len(l)
			if i+1 < len(starts) && starts[i+1] < end {
				end = starts[i+1]
			}
			if starts[i] < end {
				r[h] = strings.TrimSpace(l[starts[i]:end])
			}
		}
		rows = append(rows, r)
	}
	return rows
}
