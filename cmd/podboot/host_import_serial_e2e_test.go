package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

var podDiscoverYAML = strings.Replace(podBYAML, "unknownHosts: lease", "unknownHosts: discover", 1)

func serialMAC(i int) string { return fmt.Sprintf("52:54:00:5e:00:%02x", i) }

// seedDiscovered records n hosts of pod-b as discovered, each with an inspection
// inventory reporting serial SN-i, through a store of its own: what the DHCP path and
// the agent API write for an unknown machine, without the network namespaces.
func seedDiscovered(t *testing.T, st podmgr.Store, n int) {
	t.Helper()
	ctx := context.Background()
	m, err := podmgr.Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := m.Discover(ctx, "pod-b", serialMAC(i), podmgr.DiscoverInfo{Arch: "bios", Source: "test"}); err != nil {
			t.Fatal(err)
		}
		inv, _ := json.Marshal(map[string]any{"system": map[string]string{"serial": fmt.Sprintf("SN-%d", i)}})
		if err := st.Batch(ctx, func(tx podmgr.Tx) error {
			return tx.PutInventory(podmgr.Inventory{MAC: serialMAC(i), UpdatedAt: time.Now().UTC(), Data: inv})
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func openEtcdStore(t *testing.T, etcd *testutil.EtcdCluster, prefix string) podmgr.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: etcd.Endpoints(), Prefix: prefix, RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// hostsByMAC lists the hosts a serve holds.
func hostsByMAC(t *testing.T, cli *testutil.CLI) map[string]podmgr.Host {
	t.Helper()
	out := map[string]podmgr.Host{}
	for _, h := range listJSON[podmgr.Host](t, cli, "host", "list") {
		out[h.MAC] = h
	}
	return out
}

// TestHostImportBySerialIsOneImport (issue 14), on bbolt and on etcd through the real
// binary: a CSV of a mac row and serial rows whose last row fails (a serial no host
// reported; a management address the first serial row already takes) changes nothing:
// every discovered host stays discovered, the mac row's host is not registered, and
// the error says nothing was imported. The corrected CSV registers and accepts all.
func TestHostImportBySerialIsOneImport(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	stores := []struct {
		name string
		// start runs serve and returns it with how to seed its store with discovered hosts.
		start func(t *testing.T) (*testutil.CLI, func(n int))
	}{
		{"bbolt", func(t *testing.T) (*testutil.CLI, func(int)) {
			dir := t.TempDir()
			srv := testutil.StartServe(t, bin, dir)
			cli := testutil.NewCLI(t, bin, srv)
			return cli, func(n int) {
				if err := srv.Stop(t); err != nil {
					t.Fatal(err)
				}
				st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
				if err != nil {
					t.Fatal(err)
				}
				seedDiscovered(t, st, n)
				st.Close()
				*cli = *testutil.NewCLI(t, bin, testutil.StartServe(t, bin, dir))
			}
		}},
		{"etcd", func(t *testing.T) (*testutil.CLI, func(int)) {
			etcd := testutil.StartEtcd(t, 1)
			srv := testutil.StartServe(t, bin, t.TempDir(), "--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/serial/")
			cli := testutil.NewCLI(t, bin, srv)
			return cli, func(n int) {
				st := openEtcdStore(t, etcd, "/serial/")
				defer st.Close()
				seedDiscovered(t, st, n)
				testutil.WaitFor(t, 10*time.Second, "serve to see the discovered hosts", func() bool { return len(hostsByMAC(t, cli)) == n })
			}
		}},
	}
	const newMAC = "52:54:00:5e:01:00"
	header := "mac,serial,pod,hostname,ip,mgmt_ip\n" + newMAC + ",,pod-b,fresh,192.0.2.20,203.0.113.20\n"
	good := ",SN-0,,rack1-node0,,203.0.113.30\n,SN-1,pod-b,rack1-node1,,203.0.113.31\n,SN-2,,rack1-node2,,\n"
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			cli, seed := st.start(t)
			files := t.TempDir()
			cli.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
			cli.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", podDiscoverYAML))
			seed(3)
			for _, bad := range []struct{ name, lastRow, says string }{
				{"unknown serial", ",SN-NOBODY,,ghost,,\n", "SN-NOBODY"},
				{"management address taken by row 1", ",SN-2,,rack1-node2,,203.0.113.30\n", "203.0.113.30"},
			} {
				csv := writeFile(t, files, "bad.csv", header+strings.SplitAfterN(good, "\n", 3)[0]+strings.SplitAfterN(good, "\n", 3)[1]+bad.lastRow)
				msg := cli.MustFail(t, "host", "import", "-f", csv)
				if !strings.Contains(msg, bad.says) || !strings.Contains(msg, "nothing was") {
					t.Fatalf("%s: host import said %q, want it to name %q and say nothing was done", bad.name, msg, bad.says)
				}
				hs := hostsByMAC(t, cli)
				if _, ok := hs[newMAC]; ok || len(hs) != 3 {
					t.Fatalf("%s: %d hosts after the failed import (new host stored: %v), want the 3 discovered", bad.name, len(hs), ok)
				}
				for mac, h := range hs {
					if !h.Discovered || h.Hostname != "" {
						t.Fatalf("%s: host %s after the failed import: %+v, want discovered", bad.name, mac, h)
					}
				}
			}
			out := cli.MustRun(t, "host", "import", "-f", writeFile(t, files, "good.csv", header+good))
			if !strings.Contains(out, "1 hosts registered") || strings.Count(out, "accepted as rack1-node") != 3 {
				t.Fatalf("host import:\n%s", out)
			}
			hs := hostsByMAC(t, cli)
			for i := range 3 {
				if h := hs[serialMAC(i)]; h.Discovered || h.Hostname != fmt.Sprintf("rack1-node%d", i) || h.State != podmgr.StateRegistered {
					t.Fatalf("host %s after the import: %+v", serialMAC(i), h)
				}
			}
			if h, ok := hs[newMAC]; !ok || h.Hostname != "fresh" {
				t.Fatalf("new host after the import: %+v %v", h, ok)
			}
		})
	}
}

// TestHostImportBySerialRaceOnTwoReplicas (issue 14): two serves on one etcd import at
// the same instant two CSVs that accept the same 25 discovered hosts (in opposite
// orders, so each import takes two etcd transactions) plus one new host each: exactly
// one import wins whole; the loser says nothing was done and left nothing (its new host
// is not registered, no host carries its hostnames).
func TestHostImportBySerialRaceOnTwoReplicas(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	flags := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/race/"}
	a := testutil.StartServe(t, bin, t.TempDir(), append(flags, "--replica-name", "a")...)
	cliA := testutil.NewCLI(t, bin, a)
	cliA.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cliA.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", podDiscoverYAML))
	dirB := t.TempDir()
	b := testutil.StartServe(t, bin, dirB, append(flags, "--replica-name", "b")...)
	cliB := &testutil.CLI{Bin: bin, Server: b.Server, Token: cliA.Token, CACert: filepath.Join(dirB, "pki", "ca.pem")}
	const n = 25
	st := openEtcdStore(t, etcd, "/race/")
	seedDiscovered(t, st, n)
	st.Close()
	for _, cli := range []*testutil.CLI{cliA, cliB} {
		testutil.WaitFor(t, 10*time.Second, "both replicas to see the discovered hosts", func() bool { return len(hostsByMAC(t, cli)) == n })
	}
	csv := func(name string, newMAC string, reverse bool) string {
		var s strings.Builder
		fmt.Fprintf(&s, "mac,serial,pod,hostname\n%s,,pod-b,%s-new\n", newMAC, name)
		for k := range n {
			i := k
			if reverse {
				i = n - 1 - k
			}
			fmt.Fprintf(&s, ",SN-%d,,%s-%d\n", i, name, i)
		}
		return writeFile(t, files, name+".csv", s.String())
	}
	csvA, csvB := csv("a", "52:54:00:5e:0a:00", false), csv("b", "52:54:00:5e:0b:00", true)
	ra, rb := etcdRace(
		func(ctx context.Context) (string, error) {
			_, e, err := cliA.Run(ctx, "host", "import", "-f", csvA)
			return e, err
		},
		func(ctx context.Context) (string, error) {
			_, e, err := cliB.Run(ctx, "host", "import", "-f", csvB)
			return e, err
		})
	winner, loser := "a", "b"
	lostMsg := rb.stderr
	switch {
	case ra.err == nil && rb.err != nil:
	case rb.err == nil && ra.err != nil:
		winner, loser, lostMsg = "b", "a", ra.stderr
	default:
		t.Fatalf("replica A: %v %s; replica B: %v %s; want exactly one import to succeed", ra.err, ra.stderr, rb.err, rb.stderr)
	}
	if !strings.Contains(lostMsg, "nothing was") {
		t.Fatalf("the losing import (%s) said %q, want it to say nothing was done", loser, lostMsg)
	}
	for _, cli := range []*testutil.CLI{cliA, cliB} {
		testutil.WaitFor(t, 10*time.Second, "both replicas to hold the winner's import", func() bool {
			hs := hostsByMAC(t, cli)
			if _, ok := hs["52:54:00:5e:0"+loser+":00"]; ok || len(hs) != n+1 {
				return false
			}
			for i := range n {
				if h := hs[serialMAC(i)]; h.Discovered || h.Hostname != fmt.Sprintf("%s-%d", winner, i) {
					return false
				}
			}
			return hs["52:54:00:5e:0"+winner+":00"].Hostname == winner+"-new"
		})
	}
	t.Logf("replica %s won; %s said: %s", winner, loser, strings.TrimSpace(lostMsg))
}
