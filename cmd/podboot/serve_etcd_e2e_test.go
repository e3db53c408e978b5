package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestServeOnEtcd drives the real binary and CLI against a real 3-member etcd cluster:
// what the CLI creates survives a restart of serve (the registry loads from etcd); two
// serves with different data dirs on one etcd (two replicas) follow each other's
// changes within a second (etcdFollows); each refuses the second of two simultaneous
// registrations of one MAC, or of one match rule, with HTTP 409; and an import of 2,000
// hosts survives a member stopped mid-way whole or not at all.
func TestServeOnEtcd(t *testing.T) {
	etcd := testutil.StartEtcd(t, 3)
	bin := testutil.BuildPodboot(t)
	files := t.TempDir()
	flags := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/e2e/"}
	dirA := t.TempDir()

	a := testutil.StartServe(t, bin, dirA, append(flags, "--replica-name", "a")...)
	cliA := testutil.NewCLI(t, bin, a)
	cliA.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cliA.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", podBYAML))
	cliA.MustRun(t, "pod", "register", "pod-a", "--giaddr", "192.0.2.1", "--subnet", "192.0.2.0/24",
		"--gateway", "192.0.2.1", "--server-address", "198.51.100.10", "--profile", "default")
	cliA.MustRun(t, "host", "add", "52:54:00:0a:00:01", "--pod", "pod-a", "--ip", "192.0.2.10")
	cliA.MustRun(t, "host", "import", "-f", writeFile(t, files, "hosts.csv", hostsCSV), "--pod", "pod-b")
	cliA.MustRun(t, "token", "create", "viewer-tok", "--role", "viewer")
	if msg := cliA.MustFail(t, "host", "add", "52:54:00:0b:00:01", "--pod", "pod-a"); !strings.Contains(msg, "HTTP 409") {
		t.Fatalf("a MAC registered twice on one replica: %s, want HTTP 409", msg)
	}
	if err := a.Stop(t); err != nil {
		t.Fatalf("serve on etcd did not stop cleanly: %v\n%s", err, a.Log())
	}

	// Restart: the data dir keeps only the PKI, the artifacts and the lock; the records
	// come back from etcd.
	a = testutil.StartServe(t, bin, dirA, append(flags, "--replica-name", "a")...)
	cliA = testutil.NewCLI(t, bin, a)
	if pods := listJSON[podmgr.Pod](t, cliA, "pod", "list"); len(pods) != 2 {
		t.Fatalf("after restart: %d pods, want 2", len(pods))
	}
	if hosts := listJSON[podmgr.Host](t, cliA, "host", "list"); len(hosts) != 4 {
		t.Fatalf("after restart: %d hosts, want 4", len(hosts))
	}
	// Each replica on etcd also has its own replica-role token (artifact pulls).
	toks := slices.DeleteFunc(listJSON[podmgr.Token](t, cliA, "token", "list"), func(t podmgr.Token) bool { return t.Role == podmgr.RoleReplica })
	if len(toks) != 2 {
		t.Fatalf("after restart: %d tokens besides replica tokens, want admin and viewer-tok", len(toks))
	}

	// Replica B: its own data dir (own PKI), the same etcd. It finds tokens in the store,
	// so it writes no admin token of its own: A's admin token works on it.
	dirB := t.TempDir()
	b := testutil.StartServe(t, bin, dirB, append(flags, "--replica-name", "b")...)
	cliB := &testutil.CLI{Bin: bin, Server: b.Server, Token: cliA.Token, CACert: filepath.Join(dirB, "pki", "ca.pem")}
	if pods := listJSON[podmgr.Pod](t, cliB, "pod", "list"); len(pods) != 2 {
		t.Fatalf("replica B loaded %d pods, want 2", len(pods))
	}
	etcdFollows(t, cliA, cliB, a, b)

	for i := range 4 {
		mac := fmt.Sprintf("52:54:00:cc:00:%02x", i)
		errA, errB := etcdRace(
			func(ctx context.Context) (string, error) {
				_, e, err := cliA.Run(ctx, "host", "add", mac, "--pod", "pod-a")
				return e, err
			},
			func(ctx context.Context) (string, error) {
				_, e, err := cliB.Run(ctx, "host", "add", mac, "--pod", "pod-b")
				return e, err
			})
		etcdOneWins(t, "MAC "+mac, errA, errB)
	}
	for i := range 3 {
		giaddr := fmt.Sprintf("198.51.100.%d", 100+i)
		register := func(cli *testutil.CLI, name string) func(context.Context) (string, error) {
			return func(ctx context.Context) (string, error) {
				_, e, err := cli.Run(ctx, "pod", "register", name, "--giaddr", giaddr, "--subnet", "192.0.2.0/24",
					"--gateway", "192.0.2.1", "--server-address", "198.51.100.10", "--profile", "default")
				return e, err
			}
		}
		errA, errB := etcdRace(register(cliA, fmt.Sprintf("ra%d", i)), register(cliB, fmt.Sprintf("rb%d", i)))
		etcdOneWins(t, "match rule giaddr="+giaddr, errA, errB)
	}
	etcdImportAcrossMemberStop(t, etcd, cliA, files)
}

// etcdImportAcrossMemberStop: `host import` of 2,000 hosts through the CLI (more than one
// etcd transaction holds) while one member of three is stopped mid-way: the import
// completes with every host stored, or fails with none.
func etcdImportAcrossMemberStop(t *testing.T, etcd *testutil.EtcdCluster, cli *testutil.CLI, files string) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("mac\n")
	for i := range 2000 {
		fmt.Fprintf(&csv, "52:54:00:f0:%02x:%02x\n", i/256, i%256)
	}
	hostKeys := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := etcd.Client().Get(ctx, "/e2e/hosts/52:54:00:f0:", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return r.Count
	}
	type res struct {
		out, errOut string
		err         error
	}
	done := make(chan res, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		o, e, err := cli.Run(ctx, "host", "import", "-f", writeFile(t, files, "many.csv", csv.String()), "--pod", "pod-a")
		done <- res{o, e, err}
	}()
	testutil.WaitFor(t, time.Minute, "the import to be under way", func() bool { return hostKeys() >= 200 })
	etcd.Stop(1)
	r := <-done
	etcd.Restart(1)
	n := hostKeys()
	if (r.err == nil && n != 2000) || (r.err != nil && n != 0) {
		t.Fatalf("import across a member stop: %v %s %s, %d hosts stored: want all 2000, or an error and none", r.err, r.out, r.errOut, n)
	}
	t.Logf("import across a member stop: err=%v, %d hosts stored; %s", r.err, n, strings.TrimSpace(r.out))
}

// etcdFollows: a pod, a host and a token created through replica A are served by
// replica B within a second (B's API lists them, B's HTTP boot gate serves the host's
// iPXE script, the token authenticates on B), and so are their deletions. The pod is
// pinned to B: A, not its owner, answers the script 503 naming B and issues no token.
func etcdFollows(t *testing.T, cliA, cliB *testutil.CLI, a, b *testutil.Serve) {
	t.Helper()
	within := func(what string, cond func() bool) {
		t.Helper()
		testutil.WaitFor(t, time.Second, "replica B to "+what, cond)
	}
	const mac = "52:54:00:0d:00:01"
	script := "http://" + etcdBootHTTP(t, b) + "/boot/pod-nat/52-54-00-0d-00-01/" + podmgr.ScriptName
	scriptStatus := func() int {
		resp, err := http.Get(script)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// show reports whether B's API has the record: true on success, false on a 404.
	show := func(kind string) func(name string) bool {
		return func(name string) bool {
			_, e, err := cliB.Run(context.Background(), kind, "show", name)
			if err != nil && !strings.Contains(e, "HTTP 404") {
				t.Fatalf("%s show %s on B: %v %s", kind, name, err, e)
			}
			return err == nil
		}
	}
	hostOnB, podOnB := show("host"), show("pod")

	// A NAT pod: its boot files are not bound to a leased address, so a test on loopback
	// reaches the gate.
	cliA.MustRun(t, "pod", "apply", "-f", writeFile(t, t.TempDir(), "pod-nat.yaml", podNATYAML))
	within("show pod-nat", func() bool { return podOnB("pod-nat") })
	if code := scriptStatus(); code != http.StatusNotFound {
		t.Fatalf("B's script for a host nobody registered: HTTP %d, want 404", code)
	}
	cliA.MustRun(t, "host", "add", mac, "--pod", "pod-nat")
	within("serve the new host's iPXE script", func() bool { return scriptStatus() == http.StatusOK })
	scriptA := "http://" + etcdBootHTTP(t, a) + "/boot/pod-nat/52-54-00-0d-00-01/" + podmgr.ScriptName
	var fromA string
	refused := func() bool {
		resp, err := http.Get(scriptA)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fromA = fmt.Sprintf("HTTP %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" &&
			strings.Contains(string(body), "replica a does not own pod pod-nat; owner is b")
	}
	for deadline := time.Now().Add(5 * time.Second); !refused(); {
		if time.Now().After(deadline) {
			t.Fatalf("replica A, not pod-nat's owner, answered its host's script: %s", fromA)
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP answer, bounded by the deadline
	}
	t.Logf("non-owner's script answer: %s", fromA)
	within("show the new host", func() bool { return hostOnB(mac) })
	secret := strings.TrimSpace(cliA.MustRun(t, "token", "create", "follower", "--role", "viewer"))
	onB := cliB.WithToken(secret)
	within("accept A's new token", func() bool {
		_, _, err := onB.Run(context.Background(), "pod", "list")
		return err == nil
	})

	cliA.MustRun(t, "token", "revoke", "follower")
	within("refuse the revoked token", func() bool {
		_, e, err := onB.Run(context.Background(), "pod", "list")
		return err != nil && strings.Contains(e, "HTTP 401")
	})
	cliA.MustRun(t, "host", "delete", mac)
	within("refuse the deleted host's script", func() bool { return scriptStatus() == http.StatusNotFound })
	within("forget the deleted host", func() bool { return !hostOnB(mac) })
	cliA.MustRun(t, "pod", "delete", "pod-nat")
	within("forget the deleted pod", func() bool { return !podOnB("pod-nat") })
}

// podNATYAML is a NAT pod (its boot files are not bound to a leased address) pinned
// to replica b.
const podNATYAML = `name: pod-nat
nat: true
replica: b
match:
  - giaddr: 198.51.100.200
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
serverAddress: 198.51.100.10
profile: default
`

// etcdBootHTTP is the address of a serve's HTTP boot listener, from its log.
func etcdBootHTTP(t *testing.T, s *testutil.Serve) string {
	t.Helper()
	re := regexp.MustCompile(`http listening.*addr=(127\.0\.0\.1:[0-9]+)`)
	var addr string
	testutil.WaitFor(t, 10*time.Second, "the HTTP boot listener", func() bool {
		if m := re.FindStringSubmatch(s.Log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// etcdResult is one CLI run's stderr and error.
type etcdResult struct {
	stderr string
	err    error
}

// etcdRace runs two CLI commands at the same instant.
func etcdRace(fa, fb func(context.Context) (string, error)) (etcdResult, etcdResult) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ra, rb etcdResult
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); <-start; ra.stderr, ra.err = fa(ctx) }()
	go func() { defer wg.Done(); <-start; rb.stderr, rb.err = fb(ctx) }()
	close(start)
	wg.Wait()
	return ra, rb
}

// etcdOneWins fails unless exactly one command succeeded and the other got HTTP 409.
func etcdOneWins(t *testing.T, what string, a, b etcdResult) {
	t.Helper()
	conflict := func(r etcdResult) bool { return r.err != nil && strings.Contains(r.stderr, "HTTP 409") }
	if (a.err == nil && conflict(b)) || (b.err == nil && conflict(a)) {
		return
	}
	t.Fatalf("%s: replica A: %v %s; replica B: %v %s; want exactly one success and one HTTP 409", what, a.err, a.stderr, b.err, b.stderr)
}

// TestStoreMigrateCLI: `podboot store migrate` refuses a bbolt file a serve holds, copies
// a stopped serve's bbolt store into etcd, where a serve --store etcd on the same data dir
// finds everything, and copies it back into a new bbolt file; each copy is verified.
func TestStoreMigrateCLI(t *testing.T) {
	etcd := testutil.StartEtcd(t, 3)
	bin := testutil.BuildPodboot(t)
	files, dataDir := t.TempDir(), t.TempDir()
	srv := testutil.StartServe(t, bin, dataDir)
	cli := testutil.NewCLI(t, bin, srv)
	cli.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cli.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod-b.yaml", podBYAML))
	cli.MustRun(t, "host", "import", "-f", writeFile(t, files, "hosts.csv", hostsCSV), "--pod", "pod-b")

	eps := "etcd:" + strings.Join(etcd.Endpoints(), ",")
	migrate := func(from, to string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "store", "migrate", "--from", from, "--to", to, "--etcd-prefix", "/mig/").CombinedOutput()
		return string(out), err
	}
	db := "bbolt:" + filepath.Join(dataDir, "podboot.db")
	if out, err := migrate(db, eps); err == nil || !strings.Contains(out, "stop the podboot serve") {
		t.Fatalf("migrate from a live serve's store: %v %s, want a refusal", err, out)
	}
	if err := srv.Stop(t); err != nil {
		t.Fatal(err)
	}
	if out, err := migrate(db, eps); err != nil || !strings.Contains(out, "copied and verified 1 profiles, 1 pods, 3 hosts, 0 inventories, 1 tokens") {
		t.Fatalf("migrate bbolt -> etcd: %v %s", err, out)
	}
	srv = testutil.StartServe(t, bin, dataDir, "--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","), "--etcd-prefix", "/mig/")
	cli = testutil.NewCLI(t, bin, srv)
	if hosts := listJSON[podmgr.Host](t, cli, "host", "list"); len(hosts) != 3 {
		t.Fatalf("serve on the migrated etcd store lists %d hosts, want 3", len(hosts))
	}
	if err := srv.Stop(t); err != nil {
		t.Fatal(err)
	}
	if out, err := migrate(eps, "bbolt:"+filepath.Join(t.TempDir(), "back.db")); err != nil || !strings.Contains(out, "copied and verified") {
		t.Fatalf("migrate etcd -> bbolt: %v %s", err, out)
	}
}

// TestServeOnEtcdTLS: serve reaches members that require client certificates through
// --etcd-cert, --etcd-key and --etcd-ca, and what the CLI writes is in etcd.
func TestServeOnEtcdTLS(t *testing.T) {
	etcd := testutil.StartEtcdTLS(t, 1)
	bin := testutil.BuildPodboot(t)
	srv := testutil.StartServe(t, bin, t.TempDir(), "--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","),
		"--etcd-cert", etcd.TLS.CertFile, "--etcd-key", etcd.TLS.KeyFile, "--etcd-ca", etcd.TLS.CAFile, "--etcd-prefix", "/tls/")
	cli := testutil.NewCLI(t, bin, srv)
	cli.MustRun(t, "profile", "apply", "-f", writeFile(t, t.TempDir(), "profile.yaml", profileYAML))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := etcd.Client().Get(ctx, "/tls/profiles/default")
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("profile not in etcd: %v", err)
	}
}

// TestServeOnEtcdDown: with etcd gone, /healthz says degraded, a change through the API
// is answered 503, reads are served from memory, DHCP still offers but sends no ACK it
// could not commit (the metrics count commit_failed), except to a host renewing a lease
// stored before the outage, for what remains of it (ack_degraded); once etcd is back,
// health, changes and ACKs return by themselves.
func TestServeOnEtcdDown(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	bin := testutil.BuildPodboot(t)
	srv := testutil.StartServe(t, bin, t.TempDir(), "--store", "etcd", "--etcd-endpoints", strings.Join(etcd.Endpoints(), ","))
	cli := testutil.NewCLI(t, bin, srv)
	files := t.TempDir()
	cli.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "profile.yaml", profileYAML))
	cli.MustRun(t, "pod", "apply", "-f", writeFile(t, files, "pod.yaml", etcdLoopbackPod))
	// On etcd a replica answers a pod's DHCP once it has claimed the pod (docs/ha.md).
	testutil.WaitFor(t, 10*time.Second, "the pod to be claimed", func() bool {
		out, _, err := cli.Run(context.Background(), "replica", "list", "-o", "json")
		return err == nil && !strings.Contains(out, `"unowned": [`)
	})
	api := etcdAPIClient(t, srv)
	relay := etcdNewRelay(t, etcdDHCPAddr(t, srv))
	const stayer = "52:54:00:0e:00:01"
	first := relay.dora(t, stayer)
	if first == nil {
		t.Fatal("no ACK with etcd up")
	}
	if code, body := api.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz with etcd up: %d %s", code, body)
	}

	etcd.Stop(0)
	testutil.WaitFor(t, 15*time.Second, "healthz to say degraded", func() bool {
		code, body := api.get(t, "/healthz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "degraded")
	})
	if msg := cli.MustFail(t, "token", "create", "while-down", "--role", "viewer"); !strings.Contains(msg, "HTTP 503") {
		t.Fatalf("a change with etcd down: %s, want HTTP 503", msg)
	}
	if out := cli.MustRun(t, "profile", "list"); !strings.Contains(out, "default") {
		t.Fatalf("profile list from memory with etcd down: %q", out)
	}
	const mac = "52:54:00:0e:00:02"
	offer := relay.exchange(t, etcdPacket(t, dhcpv4.MessageTypeDiscover, mac), 5*time.Second)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("no OFFER with etcd down (an offer needs no commit): %v", offer)
	}
	request := etcdPacket(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier())))
	relay.send(t, request)
	testutil.WaitFor(t, 20*time.Second, "the failed commit to be counted", func() bool {
		if p := relay.recv(t, 100*time.Millisecond); p != nil && p.MessageType() == dhcpv4.MessageTypeAck {
			t.Fatalf("an ACK left without a commit: %v", p)
		}
		_, m := api.get(t, "/metrics")
		return regexp.MustCompile(`podboot_dhcp_packets_total\{[^}]*outcome="commit_failed"[^}]*\} [1-9]`).MatchString(m)
	})
	if p := relay.recv(t, time.Second); p != nil && p.MessageType() == dhcpv4.MessageTypeAck {
		t.Fatalf("an ACK left without a commit: %v", p)
	}
	// The host leased before the outage renews (INIT-REBOOT): ACKed for what remains of
	// its stored lease, not for a new 600 s, and counted ack_degraded.
	renew := relay.exchange(t, etcdPacket(t, dhcpv4.MessageTypeRequest, stayer, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(first.YourIPAddr))), 20*time.Second)
	if renew == nil || renew.MessageType() != dhcpv4.MessageTypeAck || !renew.YourIPAddr.Equal(first.YourIPAddr) {
		t.Fatalf("a stored lease was not renewed with etcd down: %v", renew)
	}
	if lt := renew.IPAddressLeaseTime(0); lt <= 0 || lt >= 600*time.Second {
		t.Fatalf("renewal with etcd down promises %v, want what remains of the stored 600 s", lt)
	}
	testutil.WaitFor(t, 5*time.Second, "the renewal to be counted ack_degraded", func() bool {
		_, m := api.get(t, "/metrics")
		return regexp.MustCompile(`podboot_dhcp_packets_total\{[^}]*outcome="ack_degraded"[^}]*\} 1`).MatchString(m)
	})

	etcd.Restart(0)
	testutil.WaitFor(t, 30*time.Second, "healthz to say ok again", func() bool {
		code, _ := api.get(t, "/healthz")
		return code == http.StatusOK
	})
	testutil.WaitFor(t, 30*time.Second, "changes to work again", func() bool {
		_, _, err := cli.Run(context.Background(), "token", "create", "after", "--role", "viewer")
		return err == nil
	})
	testutil.WaitFor(t, 30*time.Second, "the REQUEST to be ACKed", func() bool {
		p := relay.exchange(t, request, 2*time.Second)
		return p != nil && p.MessageType() == dhcpv4.MessageTypeAck
	})
}

// etcdLoopbackPod is a pod whose relay is the test on 127.0.0.2.
const etcdLoopbackPod = `name: lo
profile: default
serverAddress: 127.0.0.1
unknownHosts: lease
match:
  - giaddr: 127.0.0.2
subnets:
  - cidr: 127.0.0.0/8
    gateway: 127.0.0.2
    leaseSeconds: 600
    rangeStart: 127.1.0.1
    rangeEnd: 127.1.0.200
`

// etcdRelay is a DHCP relay on 127.0.0.2: it sends with giaddr = its address and RFC
// 8357 sub-option 19, so the server answers to its unprivileged port.
type etcdRelay struct {
	conn   *net.UDPConn
	server *net.UDPAddr
}

func etcdNewRelay(t *testing.T, server string) *etcdRelay {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	return &etcdRelay{conn: c, server: to}
}

func etcdPacket(t *testing.T, mt dhcpv4.MessageType, mac string, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(mt),
		dhcpv4.WithGatewayIP(net.IPv4(127, 0, 0, 2)),
		dhcpv4.WithGeneric(dhcpv4.OptionRelayAgentInformation, []byte{1, 4, 'p', 'o', 'r', 't', 19, 0})}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *etcdRelay) send(t *testing.T, p *dhcpv4.DHCPv4) {
	t.Helper()
	if _, err := r.conn.WriteToUDP(p.ToBytes(), r.server); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next reply, or nil after d.
func (r *etcdRelay) recv(t *testing.T, d time.Duration) *dhcpv4.DHCPv4 {
	t.Helper()
	buf := make([]byte, 2048)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	p, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *etcdRelay) exchange(t *testing.T, p *dhcpv4.DHCPv4, d time.Duration) *dhcpv4.DHCPv4 {
	t.Helper()
	r.send(t, p)
	return r.recv(t, d)
}

// dora runs DISCOVER, OFFER, REQUEST and returns the ACK (nil if none).
func (r *etcdRelay) dora(t *testing.T, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	offer := r.exchange(t, etcdPacket(t, dhcpv4.MessageTypeDiscover, mac), 5*time.Second)
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("%s: no OFFER: %v", mac, offer)
	}
	ack := r.exchange(t, etcdPacket(t, dhcpv4.MessageTypeRequest, mac, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))), 10*time.Second)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil
	}
	return ack
}

// etcdDHCPAddr is the address of a serve's DHCP listener, from its log.
func etcdDHCPAddr(t *testing.T, s *testutil.Serve) string {
	t.Helper()
	re := regexp.MustCompile(`msg=serving service=dhcp addr=(127\.0\.0\.1:[0-9]+)`)
	var addr string
	testutil.WaitFor(t, 10*time.Second, "the DHCP listener", func() bool {
		if m := re.FindStringSubmatch(s.Log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// etcdAPI is an HTTPS client of a serve's API listener (health and metrics).
type etcdAPI struct {
	base string
	c    *http.Client
}

func etcdAPIClient(t *testing.T, s *testutil.Serve) *etcdAPI {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.DataDir, "pki", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &etcdAPI{base: s.Server, c: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

func (a *etcdAPI) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := a.c.Get(a.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
