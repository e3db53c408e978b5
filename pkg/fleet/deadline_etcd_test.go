package fleet

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestDeadlineTwoReplicasOnEtcd: two replicas on one etcd run the deadline check on the
// same stuck host at once; the host is failed exactly once (one stage.deadline event,
// one replica counts it).
func TestDeadlineTwoReplicasOnEtcd(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	var mgrs []*podmgr.Manager
	for range 2 {
		st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/fleet/", RequestTimeout: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		m, err := podmgr.Open(ctx, st, quiet())
		if err != nil {
			t.Fatal(err)
		}
		mgrs = append(mgrs, m)
	}
	const mac = "52:54:00:00:00:07"
	m0 := mgrs[0]
	if _, _, err := m0.ApplyProfile(ctx, admin, podmgr.Profile{Name: "fast", Deadlines: podmgr.StageDeadlines{Agent: 1}}, true); err != nil {
		t.Fatal(err)
	}
	pod := podmgr.Pod{Name: "pod-a", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Profile: "fast", ServerAddress: "198.51.100.10",
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.200"}}}
	if _, err := m0.CreatePod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := m0.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	bootToKernel(t, m0, mac)
	testutil.WaitFor(t, 20*time.Second, "replica 2 to see the host booting", func() bool {
		h, ok := mgrs[1].Registry().Host(mac)
		return ok && h.State == podmgr.StateBooting
	})
	later := func() time.Time { return time.Now().Add(5 * time.Second) }
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, m := range mgrs {
		svc := NewService(m, Relays{})
		svc.now = later
		wg.Go(func() {
			n, err := svc.CheckDeadlines(ctx, quiet())
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	if counts[0]+counts[1] != 1 {
		t.Errorf("replicas failed %v hosts; want 1 in all", counts)
	}
	evs, err := m0.HostEvents(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Action == ActionDeadline {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d stage.deadline events; want 1", n)
	}
}
