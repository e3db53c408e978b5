package replica

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"go.uber.org/zap"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

// replicaUnderTest is one replica's membership and ownership on its own etcd client,
// so closing the client kills it the way SIGKILL would (no revoke).
type replicaUnderTest struct {
	name   string
	cli    *clientv3.Client
	own    *Ownership
	cancel context.CancelFunc
	mu     sync.Mutex
	loads  map[string]int
}

func startReplica(t *testing.T, etcd *testutil.EtcdCluster, name string, pods []Pod) *replicaUnderTest {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	r := &replicaUnderTest{name: name, cli: cli, loads: map[string]int{}}
	m, err := Join(context.Background(), r.cli, "/t/", Config{Name: name, TTL: 2 * time.Second, ConfirmDelay: 500 * time.Millisecond, Poll: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("join %s: %v", name, err)
	}
	r.own, err = NewOwnership(m, Hooks{
		Pods: func() []Pod { return pods },
		Load: func(_ context.Context, pod string, _ int64) error {
			r.mu.Lock()
			r.loads[pod]++
			r.mu.Unlock()
			return nil
		},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })     //nolint:errcheck // a killed replica cannot revoke
	wg.Go(func() { r.own.Run(ctx) }) //nolint:errcheck
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

// kill stops the replica without revoking its session, as SIGKILL would.
func (r *replicaUnderTest) kill() {
	r.cli.Close()
	r.cancel()
}

// owners maps each pod to the replicas that say they own it.
func owners(rs []*replicaUnderTest, pods []Pod) map[string][]string {
	out := map[string][]string{}
	for _, p := range pods {
		for _, r := range rs {
			if r.own.Owns(p.Name) {
				out[p.Name] = append(out[p.Name], r.name)
			}
		}
	}
	return out
}

func eachOwnedOnce(rs []*replicaUnderTest, pods []Pod) bool {
	o := owners(rs, pods)
	for _, p := range pods {
		if len(o[p.Name]) != 1 {
			return false
		}
	}
	return true
}

// TestOwnershipSpreadsMovesAndFences: three replicas split 12 pods, each owned by exactly
// one (a pinned pod by its pin); a replica killed without revoking loses its pods to the
// others only after its session expired and the confirmation round, and its fence fails
// in a store transaction from then on, while the new owner's passes.
func TestOwnershipSpreadsMovesAndFences(t *testing.T) {
	etcd := testutil.StartEtcd(t, 1)
	var pods []Pod
	for i := range 12 {
		pods = append(pods, Pod{Name: fmt.Sprintf("pod-%02d", i)})
	}
	pods[0].Pin = "r3"
	rs := []*replicaUnderTest{startReplica(t, etcd, "r1", pods), startReplica(t, etcd, "r2", pods), startReplica(t, etcd, "r3", pods)}
	// Replicas join one after the other, so pods move until all three are in.
	settled := func() bool {
		o := owners(rs, pods)
		for _, p := range pods {
			want := Rendezvous(p.Name, []string{"r1", "r2", "r3"})
			if p.Pin != "" {
				want = p.Pin
			}
			if !slices.Equal(o[p.Name], []string{want}) {
				return false
			}
		}
		return true
	}
	testutil.WaitFor(t, 10*time.Second, "every pod owned by its assigned replica only, pinned pod-00 by r3", settled)
	o := owners(rs, pods)
	var victim *replicaUnderTest
	for _, r := range rs {
		if len(r.own.Owned()) >= 2 && r.name != "r3" {
			victim = r
		}
	}
	if victim == nil {
		t.Fatalf("no replica but r3 owns two pods: %v", o)
	}
	lost := victim.own.Owned()
	st, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: etcd.Endpoints(), Prefix: "/t/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fenceOK := func(r *replicaUnderTest, pod string) bool {
		var ok bool
		if err := st.View(context.Background(), func(tx podmgr.ReadTx) error {
			var err error
			ok, err = r.own.Fence(tx, pod)
			return err
		}); err != nil {
			t.Fatalf("fence: %v", err)
		}
		return ok
	}
	if !fenceOK(victim, lost[0]) {
		t.Fatalf("the owner's fence fails for its own pod %s", lost[0])
	}
	killed := time.Now()
	victim.kill()
	rest := []*replicaUnderTest{}
	for _, r := range rs {
		if r != victim {
			rest = append(rest, r)
		}
	}
	testutil.WaitFor(t, 15*time.Second, "the killed replica's pods owned again", func() bool { return eachOwnedOnce(rest, pods) })
	took := time.Since(killed)
	// TTL 2s (the key lasts until etcd expires it) + confirmation 0.5s.
	if took < 2*time.Second {
		t.Fatalf("pods moved %s after the kill, before the session could expire", took)
	}
	t.Logf("pods moved %s after the kill", took.Round(10*time.Millisecond))
	for _, pod := range lost {
		newOwner := owners(rest, pods)[pod][0]
		for _, r := range rest {
			if r.name == newOwner && !fenceOK(r, pod) {
				t.Errorf("new owner %s's fence fails for %s", r.name, pod)
			}
		}
		if fenceOK(victim, pod) {
			t.Errorf("killed replica's fence still passes for %s", pod)
		}
	}
}
