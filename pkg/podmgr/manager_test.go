package podmgr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var admin = Actor{Name: "test", Role: RoleAdmin}

func newTestManager(t *testing.T) (*Manager, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "podboot.db")
	return openTestManager(t, path), path
}

func openTestManager(t *testing.T, path string) *Manager {
	t.Helper()
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := Open(context.Background(), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testMAC is the host newManagerWithHost registers.
const testMAC = "52:54:00:00:00:01"

// newManagerWithHost is a seeded manager with one host, testMAC, in pod-a.
func newManagerWithHost(t *testing.T) *Manager {
	t.Helper()
	m, _ := newTestManager(t)
	seed(t, m)
	if _, err := m.AddHosts(context.Background(), admin, []Host{{MAC: testMAC, Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	return m
}

func testPod(name, giaddr string) Pod {
	return Pod{
		Name:          name,
		Match:         []MatchRule{{Giaddr: giaddr}},
		Subnets:       []Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.200"}},
		ServerAddress: "198.51.100.10",
		Profile:       "default",
	}
}

func seed(t *testing.T, m *Manager) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreatePod(ctx, admin, testPod("pod-a", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
}

func TestPodValidation(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	mod := func(f func(*Pod)) Pod { p := testPod("pod-x", "203.0.113.1"); f(&p); return p }
	cases := []struct {
		name string
		pod  Pod
		want error
	}{
		{"bad name", mod(func(p *Pod) { p.Name = "Pod X" }), ErrInvalid},
		{"no match rule", mod(func(p *Pod) { p.Match = nil }), ErrInvalid},
		{"empty match rule", mod(func(p *Pod) { p.Match = []MatchRule{{}} }), ErrInvalid},
		{"malformed giaddr", mod(func(p *Pod) { p.Match[0].Giaddr = "192.0.2.300" }), ErrInvalid},
		{"malformed CIDR", mod(func(p *Pod) { p.Subnets[0].CIDR = "192.0.2.0/33" }), ErrInvalid},
		{"CIDR with host bits", mod(func(p *Pod) { p.Subnets[0].CIDR = "192.0.2.7/24" }), ErrInvalid},
		{"gateway outside subnet", mod(func(p *Pod) { p.Subnets[0].Gateway = "198.51.100.1" }), ErrInvalid},
		{"range outside subnet", mod(func(p *Pod) { p.Subnets[0].RangeEnd = "192.0.3.10" }), ErrInvalid},
		{"range reversed", mod(func(p *Pod) { p.Subnets[0].RangeStart, p.Subnets[0].RangeEnd = "192.0.2.200", "192.0.2.100" }), ErrInvalid},
		{"half a range", mod(func(p *Pod) { p.Subnets[0].RangeEnd = "" }), ErrInvalid},
		{"malformed server address", mod(func(p *Pod) { p.ServerAddress = "central" }), ErrInvalid},
		{"mgmt gateway outside", mod(func(p *Pod) { p.Management = ManagementNet{CIDR: "203.0.113.0/24", Gateway: "192.0.2.1"} }), ErrInvalid},
		{"bad policy", mod(func(p *Pod) { p.UnknownHosts = "accept" }), ErrInvalid},
		{"bad replyTo", mod(func(p *Pod) { p.ReplyTo = "relay" }), ErrInvalid},
		{"unknown profile", mod(func(p *Pod) { p.Profile = "nope" }), ErrInvalid},
		{"same giaddr, nothing else", mod(func(p *Pod) { p.Match[0].Giaddr = "192.0.2.1" }), ErrConflict},
		{"same giaddr, circuit-id differs", mod(func(p *Pod) { p.Match[0] = MatchRule{Giaddr: "192.0.2.1", CircuitID: "rack-7"} }), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.CreatePod(ctx, admin, tc.pod)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			if _, ok := m.Registry().Pod(tc.pod.Name); ok {
				t.Fatalf("refused pod %s is in the registry", tc.pod.Name)
			}
		})
	}
}

func TestResolveMostSpecificWins(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	for _, p := range []Pod{
		func() Pod { p := testPod("pod-b", "192.0.2.1"); p.Match[0].CircuitID = "rack-b"; return p }(),
		func() Pod { p := testPod("pod-c", "192.0.2.1"); p.Match[0].RemoteID = "hex:0a0b"; return p }(),
		func() Pod { p := testPod("pod-d", ""); p.Match[0] = MatchRule{LinkSelection: "203.0.113.0"}; return p }(),
		func() Pod { p := testPod("pod-e", ""); p.Match[0] = MatchRule{RelaySource: "198.51.100.77"}; return p }(),
	} {
		if _, err := m.CreatePod(ctx, admin, p); err != nil {
			t.Fatal(err)
		}
	}
	gi := netip.MustParseAddr("192.0.2.1")
	cases := []struct {
		keys MatchKeys
		want string
	}{
		{MatchKeys{Giaddr: gi}, "pod-a"},
		{MatchKeys{Giaddr: gi, CircuitID: "rack-b"}, "pod-b"},
		{MatchKeys{Giaddr: gi, CircuitID: "rack-z"}, "pod-a"},
		{MatchKeys{Giaddr: gi, RemoteID: "\x0a\x0b"}, "pod-c"},
		{MatchKeys{Giaddr: gi, CircuitID: "rack-b", LinkSelection: netip.MustParseAddr("203.0.113.0")}, "pod-d"},
		{MatchKeys{Giaddr: netip.MustParseAddr("198.51.100.1"), RelaySource: netip.MustParseAddr("198.51.100.77")}, "pod-e"},
		{MatchKeys{Giaddr: netip.MustParseAddr("198.51.100.1")}, ""},
	}
	for _, tc := range cases {
		pc, ok := m.Registry().Resolve(tc.keys)
		got := ""
		if ok {
			got = pc.Pod.Name
		}
		if got != tc.want {
			t.Errorf("Resolve(%+v) = %q, want %q", tc.keys, got, tc.want)
		}
	}
}

func TestHostValidation(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:01", Pod: "pod-a", ProvisioningIP: "192.0.2.10"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		hosts []Host
		want  error
	}{
		{"malformed MAC", []Host{{MAC: "52:54:00:00:00", Pod: "pod-a"}}, ErrInvalid},
		{"unknown pod", []Host{{MAC: "52:54:00:00:00:02", Pod: "nope"}}, ErrInvalid},
		{"address outside subnets", []Host{{MAC: "52:54:00:00:00:02", Pod: "pod-a", ProvisioningIP: "203.0.113.5"}}, ErrInvalid},
		{"malformed address", []Host{{MAC: "52:54:00:00:00:02", Pod: "pod-a", ProvisioningIP: "192.0.2"}}, ErrInvalid},
		{"unknown profile", []Host{{MAC: "52:54:00:00:00:02", Pod: "pod-a", Profile: "nope"}}, ErrInvalid},
		{"MAC already registered (other notation)", []Host{{MAC: "52-54-00-00-00-01", Pod: "pod-a"}}, ErrConflict},
		{"reservation taken", []Host{{MAC: "52:54:00:00:00:02", Pod: "pod-a", ProvisioningIP: "192.0.2.10"}}, ErrConflict},
		{"duplicate within batch, nothing stored", []Host{{MAC: "52:54:00:00:00:03", Pod: "pod-a"}, {MAC: "52:54:00:00:00:03", Pod: "pod-a"}}, ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.AddHosts(ctx, admin, tc.hosts); !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			if n := m.Registry().HostCount(""); n != 1 {
				t.Fatalf("refused batch changed the registry: %d hosts", n)
			}
		})
	}
}

func TestDeletePodWithHostsNeedsForce(t *testing.T) {
	m, path := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:01", Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.DeletePod(ctx, admin, "pod-a", false); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete without force: want conflict, got %v", err)
	}
	if err := m.DeletePod(ctx, admin, "pod-a", true); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Registry().Host("52:54:00:00:00:01"); ok {
		t.Fatal("host survived forced pod delete")
	}
	// The giaddr is free again, in the store's index too.
	if _, err := m.CreatePod(ctx, admin, testPod("pod-z", "192.0.2.1")); err != nil {
		t.Fatalf("giaddr not released: %v", err)
	}
	_ = path
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := Open(context.Background(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, m)
	ctx := context.Background()
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:01", Pod: "pod-a", ProvisioningIP: "192.0.2.10"}}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := m.CreateToken(ctx, admin, "ci", RoleCI)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	m2 := openTestManager(t, path)
	if _, ok := m2.Registry().Pod("pod-a"); !ok {
		t.Fatal("pod lost")
	}
	h, ok := m2.Registry().Host("52:54:00:00:00:01")
	if !ok || h.ProvisioningIP != "192.0.2.10" || h.State != StateRegistered || !h.Netboot {
		t.Fatalf("host lost or changed: %+v", h)
	}
	if mac, ok := m2.Registry().ReservedBy("pod-a", netip.MustParseAddr("192.0.2.10")); !ok || mac != h.MAC {
		t.Fatal("reservation index not rebuilt")
	}
	if tok, ok := m2.Authenticate(secret); !ok || tok.Role != RoleCI {
		t.Fatal("token lost")
	}
	if _, ok := m2.Authenticate(secret + "x"); ok {
		t.Fatal("wrong secret accepted")
	}
	evs, err := m2.HostEvents(ctx, h.MAC)
	if err != nil || len(evs) != 1 || evs[0].Action != "registered" {
		t.Fatalf("host events: %v %+v", err, evs)
	}
}

func TestCorruptStoreIsRefusedAndKept(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]byte{
		"garbage":   []byte("this is not a bbolt file, but it is somebody's data\n"),
		"truncated": make([]byte, 4096),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenBolt(path); !errors.Is(err, ErrStoreCorrupt) {
				t.Fatalf("want ErrStoreCorrupt, got %v", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(content) {
				t.Fatal("the corrupt file was modified")
			}
		})
	}
	t.Run("foreign bbolt file", func(t *testing.T) {
		path := filepath.Join(dir, "foreign.db")
		st, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		// Remove the schema marker to make it look like someone else's bbolt file.
		if err := st.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) }); err != nil {
			t.Fatal(err)
		}
		st.Close()
		before, _ := os.ReadFile(path)
		if _, err := OpenBolt(path); !errors.Is(err, ErrStoreCorrupt) {
			t.Fatalf("want ErrStoreCorrupt, got %v", err)
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Fatal("foreign file was modified")
		}
	})
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := OpenBolt(path); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("want ErrStoreLocked, got %v", err)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	_, changed, err := m.ApplyPod(ctx, admin, testPod("pod-a", "192.0.2.1"))
	if err != nil || changed {
		t.Fatalf("re-apply of the same pod: changed=%v err=%v", changed, err)
	}
	p := testPod("pod-a", "192.0.2.1")
	p.UnknownHosts = PolicyLease
	_, changed, err = m.ApplyPod(ctx, admin, p)
	if err != nil || !changed {
		t.Fatalf("apply of a change: changed=%v err=%v", changed, err)
	}
	if pc, _ := m.Registry().Pod("pod-a"); pc.Pod.UnknownHosts != PolicyLease {
		t.Fatal("registry not updated by apply")
	}
}

func TestDiscoverIsCapped(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	p := testPod("pod-a", "192.0.2.1")
	p.UnknownHosts, p.DiscoverLimit = PolicyDiscover, 3
	if _, _, err := m.ApplyPod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := m.Discover(ctx, "pod-a", "52:54:00:aa:00:0"+string(rune('0'+i)), DiscoverInfo{Arch: "bios"})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	limited := 0
	for err := range errs {
		if errors.Is(err, ErrDiscoverLimit) {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited != 7 || m.Registry().HostCount("pod-a") != 3 {
		t.Fatalf("limited=%d hosts=%d, want 7 and 3", limited, m.Registry().HostCount("pod-a"))
	}
}

func TestHostCodecRoundTrip(t *testing.T) {
	h := Host{MAC: "52:54:00:00:00:01", Pod: "pod-a", Hostname: "n1", ProvisioningIP: "192.0.2.10", ManagementIP: "203.0.113.10",
		Profile: "p", Bootloaders: Bootloaders{BIOS: "a", EFIx64: "b", EFIARM64: "c"}, State: StateFailed, StateReason: "bad signature",
		Netboot: true, TokenHash: "abc", TokenExpires: time.Unix(1700000000, 5).UTC(), Discovered: true, Arch: "efi-x64",
		VendorClass: "PXEClient:Arch:00007", GUID: "g", CreatedAt: time.Unix(1600000000, 0).UTC(), UpdatedAt: time.Unix(1600000001, 0).UTC()}
	var got Host
	if err := decodeHost(encodeHost(h), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, h)
	}
	enc := encodeHost(h)
	for i := 0; i < len(enc); i++ {
		var x Host
		if err := decodeHost(enc[:i], &x); !errors.Is(err, ErrStoreCorrupt) {
			t.Fatalf("truncated at %d: want ErrStoreCorrupt, got %v", i, err)
		}
	}
	// Version 1 (JSON) records still read.
	v1, _ := encode(h)
	if err := decodeHost(v1, &got); err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("v1 record: %v", err)
	}
}

// A copy of a host committed earlier must never overwrite a later one in the registry,
// whatever order the goroutines update it in: else a stale "netboot on" could come back
// after the installed callback.
func TestRegistryIgnoresStaleHostCopies(t *testing.T) {
	m := newManagerWithHost(t)
	ctx := context.Background()
	mac := testMAC
	early, err := m.RecordHostEvent(ctx, mac, "test", "http.script", "", HostUpdate{State: StateBooting})
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := m.RecordHostEvent(ctx, mac, "test", "installed", "", HostUpdate{State: StateProvisioned, Netboot: &off}); err != nil {
		t.Fatal(err)
	}
	// The first commit's copy arrives last (a feed must not do this; the registry
	// still keeps the newer copy).
	m.reg.apply(m.Revision()-1, []Change{{Kind: ChangeHost, Key: mac, Host: early}}, m.log)
	if h, _ := m.Registry().Host(mac); h.Netboot || h.State != StateProvisioned {
		t.Fatalf("stale copy won: netboot=%v state=%s", h.Netboot, h.State)
	}
}

func TestServiceEventsDoNotMoveHostsBack(t *testing.T) {
	m := newManagerWithHost(t)
	ctx := context.Background()
	mac := testMAC
	steps := []struct {
		state, want HostState
	}{
		{StateOffered, StateOffered},
		{StateBooting, StateBooting},
		{StateOffered, StateBooting}, // a late DHCP offer event
		{StateVerified, StateVerified},
		{StateBooting, StateVerified}, // a late file download event
	}
	for i, st := range steps {
		h, err := m.RecordHostEvent(ctx, mac, "test", fmt.Sprintf("step-%d", i), "", HostUpdate{State: st.state})
		if err != nil {
			t.Fatal(err)
		}
		if h.State != st.want {
			t.Fatalf("step %d (%s): state %s, want %s", i, st.state, h.State, st.want)
		}
	}
	evs, _ := m.HostEvents(ctx, mac)
	if len(evs) != 1+len(steps) {
		t.Fatalf("every event is kept in the history: got %d", len(evs))
	}
}

func TestDeleteProfileUsedByHostOverride(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "special"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:00:01", Pod: "pod-a", Profile: "special"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteProfile(ctx, admin, "special"); !errors.Is(err, ErrConflict) {
		t.Fatalf("want conflict, got %v", err)
	}
}

// A pod re-created from an old `pod show -o json` is a new incarnation: its createdAt
// is the server's, never the client's (the DHCP lease table keys on it).
func TestRecreatedPodGetsNewCreatedAt(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	old, ok := m.Registry().Pod("pod-a")
	if !ok {
		t.Fatal("seeded pod-a missing")
	}
	if err := m.DeletePod(ctx, admin, "pod-a", true); err != nil {
		t.Fatal(err)
	}
	for name, create := range map[string]func(Pod) (Pod, error){
		"create": func(p Pod) (Pod, error) { return m.CreatePod(ctx, admin, p) },
		"apply": func(p Pod) (Pod, error) {
			out, _, err := m.ApplyPod(ctx, admin, p)
			return out, err
		},
	} {
		p := old.Pod
		got, err := create(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.CreatedAt.Equal(old.Pod.CreatedAt) {
			t.Fatalf("%s: re-created pod kept the client's createdAt %v", name, got.CreatedAt)
		}
		if err := m.DeletePod(ctx, admin, "pod-a", true); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLateOfferDoesNotUndoAFailure: the DHCP offer is recorded off the hot path; when
// it lands after the host already failed (From no longer holds), it is history only.
func TestLateOfferDoesNotUndoAFailure(t *testing.T) {
	tests := []struct {
		name      string
		setup     HostState // the host's state when the queued offer lands
		from      HostState // the state the DHCP server saw when it ACKed
		wantState HostState
	}{
		{"unchanged since the ACK", StateRegistered, StateRegistered, StateOffered},
		{"failed since the ACK", StateFailed, StateRegistered, StateFailed},
		{"retry of a failed host", StateFailed, StateFailed, StateOffered},
		{"no precondition", StateFailed, "", StateOffered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManagerWithHost(t)
			ctx := context.Background()
			if tt.setup == StateFailed { // as the agent's failure call does
				tok, err := m.IssueHostToken(ctx, testMAC, "test", time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.HostTokenEvent(ctx, testMAC, tok, "test", "agent.failed", "", HostUpdate{State: StateFailed}); err != nil {
					t.Fatal(err)
				}
			}
			h, err := m.RecordHostEvent(ctx, testMAC, "dhcp", "dhcp.offer", "", HostUpdate{State: StateOffered, From: tt.from})
			if err != nil {
				t.Fatal(err)
			}
			if h.State != tt.wantState {
				t.Fatalf("state after the offer = %s, want %s", h.State, tt.wantState)
			}
		})
	}
}
