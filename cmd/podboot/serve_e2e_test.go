package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

const profileYAML = `name: default
kernelArgs: console=ttyS0
`

// podBYAML shares pod-a's provisioning CIDR; its relay differs.
const podBYAML = `name: pod-b
match:
  - giaddr: 203.0.113.1
  - giaddr: 192.0.2.1
    circuitId: rack-b
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
    dns: [192.0.2.53]
    rangeStart: 192.0.2.100
    rangeEnd: 192.0.2.150
serverAddress: 198.51.100.10
management:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  vlan: 42
profile: default
unknownHosts: lease
`

const hostsCSV = `mac,pod,hostname,ip,mgmt_ip
52:54:00:0b:00:01,pod-b,b1,192.0.2.11,203.0.113.11
52-54-00-0B-00-02,pod-b,b2,192.0.2.12,203.0.113.12
5254.000b.0003,,b3,,
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func listJSON[T any](t *testing.T, cli *testutil.CLI, args ...string) []T {
	t.Helper()
	var out []T
	if err := json.Unmarshal([]byte(cli.MustRun(t, append(args, "-o", "json")...)), &out); err != nil {
		t.Fatalf("%v: output is not JSON: %v", args, err)
	}
	return out
}

// TestServeLifecycle drives the real binary the way an operator does: serve, register
// pods and hosts, restart, and check that everything is still there; a second serve on
// the same data dir is refused; SIGTERM exits cleanly.
func TestServeLifecycle(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	dataDir := t.TempDir()
	files := t.TempDir()
	srv := testutil.StartServe(t, bin, dataDir)
	cli := testutil.NewCLI(t, bin, srv)

	for _, f := range []string{"admin.token", "client.json", "pki/ca.key"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatalf("first start did not write %s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}

	cli.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	out := cli.MustRun(t, "pod", "register", "pod-a", "--giaddr", "192.0.2.1", "--subnet", "192.0.2.0/24",
		"--gateway", "192.0.2.1", "--server-address", "198.51.100.10", "--profile", "default")
	if !strings.Contains(out, "pod-a registered") {
		t.Fatalf("pod register said %q", out)
	}
	podB := writeFile(t, files, "pod-b.yaml", podBYAML)
	if out := cli.MustRun(t, "pod", "apply", "-f", podB); !strings.Contains(out, "pod-b created") {
		t.Fatalf("first apply said %q", out)
	}
	if out := cli.MustRun(t, "pod", "apply", "-f", podB); !strings.Contains(out, "pod-b unchanged") {
		t.Fatalf("second apply said %q, want unchanged", out)
	}
	cli.MustRun(t, "host", "add", "52:54:00:0a:00:01", "--pod", "pod-a", "--ip", "192.0.2.10", "--hostname", "a1")
	if out := cli.MustRun(t, "host", "import", "-f", writeFile(t, files, "hosts.csv", hostsCSV), "--pod", "pod-b"); !strings.Contains(out, "3 hosts registered") {
		t.Fatalf("import said %q", out)
	}

	pods := listJSON[podmgr.Pod](t, cli, "pod", "list")
	hosts := listJSON[podmgr.Host](t, cli, "host", "list")
	if len(pods) != 2 || len(hosts) != 4 {
		t.Fatalf("got %d pods and %d hosts, want 2 and 4", len(pods), len(hosts))
	}
	if hosts[1].MAC != "52:54:00:0b:00:01" || hosts[1].ManagementIP != "203.0.113.11" || hosts[3].MAC != "52:54:00:0b:00:03" {
		t.Fatalf("hosts not normalised as expected: %+v", hosts)
	}
	if got := listJSON[podmgr.Host](t, cli, "host", "list", "--pod", "pod-a"); len(got) != 1 {
		t.Fatalf("host list --pod pod-a: %d hosts", len(got))
	}

	// A second serve on the same data dir is refused at once, with a clear message.
	second := testutil.StartServeNoWait(t, bin, dataDir)
	if err := second.Wait(15 * time.Second); err == nil {
		t.Fatal("second serve on the same data dir did not fail")
	}
	if !strings.Contains(second.Log(), "held by another podboot serve") {
		t.Fatalf("second serve's message does not say why: %s", second.Log())
	}

	// SIGTERM drains and exits 0.
	if err := srv.Stop(t); err != nil {
		t.Fatalf("SIGTERM: serve exited with %v\n%s", err, srv.Log())
	}

	// Restart: everything is still there, byte for byte.
	srv2 := testutil.StartServe(t, bin, dataDir)
	cli2 := testutil.NewCLI(t, bin, srv2)
	if got := listJSON[podmgr.Pod](t, cli2, "pod", "list"); !reflect.DeepEqual(got, pods) {
		t.Fatalf("pods changed across restart:\n%+v\n%+v", got, pods)
	}
	if got := listJSON[podmgr.Host](t, cli2, "host", "list"); !reflect.DeepEqual(got, hosts) {
		t.Fatalf("hosts changed across restart")
	}
	if out := cli2.MustRun(t, "pod", "apply", "-f", podB); !strings.Contains(out, "unchanged") {
		t.Fatalf("apply after restart said %q, want unchanged", out)
	}
	if err := srv2.Stop(t); err != nil {
		t.Fatalf("SIGTERM after restart: %v", err)
	}
}

// startWithPodB starts podboot serve with the test profile and pod-b applied through the
// CLI; it returns the admin CLI and a directory for input files.
func startWithPodB(t *testing.T) (admin *testutil.CLI, files string) {
	t.Helper()
	bin := testutil.BuildPodboot(t)
	files = t.TempDir()
	admin = testutil.NewCLI(t, bin, testutil.StartServe(t, bin, t.TempDir()))
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	admin.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", podBYAML))
	return admin, files
}

// roleCLI is the CLI with a new token of role.
func roleCLI(t *testing.T, admin *testutil.CLI, role string) *testutil.CLI {
	t.Helper()
	return admin.WithToken(strings.TrimSpace(admin.MustRun(t, "token", "create", role+"-tok", "--role", role)))
}

// TestRoles checks what each token role may do through the CLI.
func TestRoles(t *testing.T) {
	admin, files := startWithPodB(t)
	admin.MustRun(t, "host", "add", "52:54:00:0b:00:09", "--pod", "pod-b")
	viewer, ci, operator := roleCLI(t, admin, "viewer"), roleCLI(t, admin, "ci"), roleCLI(t, admin, "operator")

	podC := writeFile(t, files, "pod-c.yaml", strings.ReplaceAll(strings.ReplaceAll(podBYAML, "pod-b", "pod-c"), "203.0.113.1\n  - giaddr: 192.0.2.1\n    circuitId: rack-b", "192.0.2.254"))
	csv := writeFile(t, files, "h.csv", "mac,pod\n52:54:00:0c:00:01,pod-b\n")
	changes := [][]string{
		{"pod", "register", "pod-x", "--giaddr", "198.51.100.99", "--subnet", "198.51.100.0/24", "--server-address", "198.51.100.10", "--profile", "default"},
		{"pod", "apply", "-f", podC},
		{"pod", "delete", "pod-b", "--force"},
		{"profile", "apply", "-f", writeFile(t, files, "p2.yaml", "name: other\n")},
		{"profile", "delete", "default"},
		{"host", "add", "52:54:00:0c:00:02", "--pod", "pod-b"},
		{"host", "import", "-f", csv},
		{"host", "delete", "52:54:00:0b:00:09"},
		{"token", "create", "x", "--role", "admin"},
		{"token", "revoke", "000000000000"},
	}
	for _, args := range changes {
		if msg := viewer.MustFail(t, args...); !strings.Contains(msg, "HTTP 403") {
			t.Errorf("viewer %v: want 403, got %q", args, msg)
		}
	}
	// Viewers read.
	if got := listJSON[podmgr.Host](t, viewer, "host", "list"); len(got) != 1 {
		t.Fatalf("viewer host list: %d", len(got))
	}
	// CI tokens push images and nothing else: no pods, not even reading them.
	for _, args := range [][]string{changes[0], {"pod", "list"}, {"host", "list"}} {
		if msg := ci.MustFail(t, args...); !strings.Contains(msg, "HTTP 403") {
			t.Errorf("ci %v: want 403, got %q", args, msg)
		}
	}
	// Operators change pods and hosts but not tokens.
	operator.MustRun(t, changes[0]...)
	if msg := operator.MustFail(t, "token", "list"); !strings.Contains(msg, "HTTP 403") {
		t.Errorf("operator token list: want 403, got %q", msg)
	}
	// A revoked token stops working at once.
	var toks []podmgr.Token
	if err := json.Unmarshal([]byte(admin.MustRun(t, "token", "list", "-o", "json")), &toks); err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Name == "viewer-tok" {
			admin.MustRun(t, "token", "revoke", tk.ID)
		}
	}
	if msg := viewer.MustFail(t, "pod", "list"); !strings.Contains(msg, "HTTP 401") {
		t.Errorf("revoked token: want 401, got %q", msg)
	}
	// A bad token is 401, not 403.
	if msg := admin.WithToken("pbt_bogus").MustFail(t, "pod", "list"); !strings.Contains(msg, "HTTP 401") {
		t.Errorf("bogus token: want 401, got %q", msg)
	}
}

// TestValidationThroughCLI checks that every validation rule reaches the operator as a
// clear error and a non-zero exit, and that nothing was stored.
func TestValidationThroughCLI(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	srv := testutil.StartServe(t, bin, t.TempDir())
	cli := testutil.NewCLI(t, bin, srv)
	cli.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cli.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", podBYAML))
	cli.MustRun(t, "host", "add", "52:54:00:0b:00:01", "--pod", "pod-b", "--ip", "192.0.2.11")
	reg := func(extra ...string) []string {
		base := map[string]string{"--giaddr": "198.51.100.1", "--subnet": "198.51.100.0/24", "--gateway": "198.51.100.1", "--server-address": "198.51.100.10", "--profile": "default"}
		for i := 0; i+1 < len(extra); i += 2 {
			base[extra[i]] = extra[i+1]
		}
		args := []string{"pod", "register", "pod-x"}
		for k, v := range base {
			args = append(args, k, v)
		}
		return args
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed MAC", []string{"host", "add", "52:54:00:zz:00:01", "--pod", "pod-b"}, "MAC address"},
		{"malformed CIDR", reg("--subnet", "198.51.100.0/40"), "not an IPv4 CIDR"},
		{"malformed address", reg("--giaddr", "198.51.100"), "not an IPv4 address"},
		{"gateway outside subnet", reg("--gateway", "192.0.2.1"), "outside the subnet"},
		{"range outside subnet", reg("--range", "198.51.100.10-192.0.2.20"), "outside the subnet"},
		{"MAC registered in another pod", []string{"host", "add", "52:54:00:0B:00:01", "--pod", "pod-x2"}, "does not exist"},
		{"MAC already registered", []string{"host", "add", "52:54:00:0B:00:01", "--pod", "pod-b"}, "already registered in pod pod-b"},
		{"indistinguishable pods", reg("--giaddr", "203.0.113.1"), "could not be told apart"},
		{"unknown profile", reg("--profile", "nope"), "profile \"nope\" does not exist"},
		{"delete pod with hosts", []string{"pod", "delete", "pod-b"}, "--force"},
		{"import with a bad row stores nothing", []string{"host", "import", "-f", writeFile(t, files, "bad.csv", "mac,pod\n52:54:00:0d:00:01,pod-b\nnot-a-mac,pod-b\n")}, "host 2 of 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := cli.MustFail(t, tc.args...)
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
	if pods := listJSON[podmgr.Pod](t, cli, "pod", "list"); len(pods) != 1 {
		t.Fatalf("refused registrations left %d pods", len(pods))
	}
	if hosts := listJSON[podmgr.Host](t, cli, "host", "list"); len(hosts) != 1 {
		t.Fatalf("refused registrations left %d hosts", len(hosts))
	}
	// Two pods MAY share a CIDR and a giaddr when another key tells them apart.
	cli.MustRun(t, reg("--giaddr", "203.0.113.1", "--circuit-id", "rack-x", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.1")...)
}

// TestCorruptDatabaseIsRefusedAndKept: serve on a damaged database fails with a clear
// message and leaves the file exactly as it was.
func TestCorruptDatabaseIsRefusedAndKept(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	dataDir := t.TempDir()
	db := filepath.Join(dataDir, "podboot.db")
	garbage := []byte(strings.Repeat("not a database ", 1000))
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s := testutil.StartServeNoWait(t, bin, dataDir)
	if err := s.Wait(15 * time.Second); err == nil {
		t.Fatal("serve accepted a corrupt database")
	}
	if !strings.Contains(s.Log(), "corrupt") || !strings.Contains(s.Log(), "left untouched") {
		t.Fatalf("message does not explain: %s", s.Log())
	}
	if after, _ := os.ReadFile(db); string(after) != string(garbage) {
		t.Fatal("corrupt database was modified")
	}
}
