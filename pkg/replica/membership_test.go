package replica

import (
	"context"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
)

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// startMember joins name and runs its membership until the returned stop is called.
func startMember(t *testing.T, cli *clientv3.Client, name string, cfg Config) (*Membership, func()) {
	t.Helper()
	cfg.Name = name
	m, err := Join(context.Background(), cli, "/t/", cfg, nil)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return m, stop
}

func TestMembershipJoinLeaveConfirm(t *testing.T) {
	cli := testutil.StartEtcd(t, 1).Client()
	cfg := Config{TTL: 2 * time.Second, ConfirmDelay: 500 * time.Millisecond, Poll: 50 * time.Millisecond,
		Advertise: Advertise{DHCP: "192.0.2.10", HTTPS: "https://192.0.2.10:8443"}}
	a, _ := startMember(t, cli, "a", cfg)
	b, stopB := startMember(t, cli, "b", cfg)
	testutil.WaitFor(t, 5*time.Second, "a sees a and b", func() bool { return slices.Equal(names(a.Members()), []string{"a", "b"}) })
	live, err := a.Live(context.Background())
	if err != nil || !slices.Equal(names(live), []string{"a", "b"}) || live[0].Advertise.HTTPS != "https://192.0.2.10:8443" {
		t.Fatalf("Live = %+v, %v", live, err)
	}
	if !a.Alive() || !b.Alive() {
		t.Fatal("a fresh session is not alive")
	}
	// A second replica under a taken name waits for the record, then gives up.
	if _, err := Join(context.Background(), cli, "/t/", Config{Name: "a", TTL: 2 * time.Second, Poll: 100 * time.Millisecond}, nil); err == nil {
		t.Fatal("a second replica named a joined")
	}
	stopB()
	// First round: b is a suspect and still counted; second round: gone.
	testutil.WaitFor(t, 3*time.Second, "b suspect", func() bool { return a.Suspect("b") })
	if !slices.Contains(names(a.Members()), "b") {
		t.Fatal("a suspect was dropped before the confirmation delay")
	}
	testutil.WaitFor(t, 3*time.Second, "b confirmed gone", func() bool { return slices.Equal(names(a.Members()), []string{"a"}) })
}

func TestRendezvousMovesOnlyWhatItMust(t *testing.T) {
	three := []string{"r1", "r2", "r3"}
	two := []string{"r1", "r3"}
	counts := map[string]int{}
	for i := range 300 {
		pod := "pod" + string(rune('a'+i%26)) + string(rune('0'+i/26))
		o3, o2 := Rendezvous(pod, three), Rendezvous(pod, two)
		counts[o3]++
		if o3 != "r2" && o3 != o2 {
			t.Fatalf("pod %s moved from %s to %s though %s stayed", pod, o3, o2, o3)
		}
		if o2 == "r2" {
			t.Fatalf("pod %s went to the removed replica", pod)
		}
	}
	for _, n := range three {
		if counts[n] < 60 {
			t.Errorf("replica %s got %d of 300 pods: %v", n, counts[n], counts)
		}
	}
	if Rendezvous("p", nil) != "" {
		t.Error("no replicas must give no owner")
	}
}

// TestJoinAfterKilledPredecessor: a replica restarted after a SIGKILL finds its name
// held by the dead session's record until that lease runs out, longer than its own
// lease's TTL; it keeps its lease alive while it waits and joins.
func TestJoinAfterKilledPredecessor(t *testing.T) {
	cli := testutil.StartEtcd(t, 1).Client()
	ctx := context.Background()
	old, err := cli.Grant(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/t/members/c", "{}", clientv3.WithLease(old.ID)); err != nil {
		t.Fatal(err)
	}
	m, err := Join(ctx, cli, "/t/", Config{Name: "c", TTL: 2 * time.Second, Poll: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("join while the dead session's record lives: %v", err)
	}
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
}
