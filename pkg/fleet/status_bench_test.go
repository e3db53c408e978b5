package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// BenchmarkPodStatus is `pod status POD` and `pod status` at the default retention's
// most: 200,000 host events of the last day, 20,000 hosts in 4,000 pods (50 events a
// pod), each host ten events into a provision.
//
//	go test -run '^$' -bench BenchmarkPodStatus -benchtime 20x ./pkg/fleet
func BenchmarkPodStatus(b *testing.B) {
	const pods, hosts, events = 4000, 20_000, 200_000
	dir := b.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "podboot-bench-"); err == nil {
		defer os.RemoveAll(shm)
		dir = shm
	}
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	put := func(fn func(tx podmgr.Tx) error) {
		if err := st.Update(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
	put(func(tx podmgr.Tx) error { return tx.PutProfile(podmgr.Profile{Name: "default"}) })
	put(func(tx podmgr.Tx) error {
		for p := range pods {
			pod := podmgr.Pod{Name: fmt.Sprintf("pod-%04d", p), Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1", CircuitID: fmt.Sprint("rack-", p)}},
				Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}}, ServerAddress: "198.51.100.10", Profile: "default"}
			if err := tx.PutPod(pod); err != nil {
				return err
			}
		}
		return nil
	})
	run := fullRun[1:11]
	for e0 := 0; e0 < events; e0 += 20_000 {
		put(func(tx podmgr.Tx) error {
			for e := e0; e < e0+20_000; e++ {
				h, step := e%hosts, run[e/hosts%len(run)]
				ev := podmgr.Event{Time: now.Add(-23 * time.Hour).Add(time.Duration(e) * 23 * time.Hour / events), Kind: podmgr.KindHost,
					Pod: fmt.Sprintf("pod-%04d", h%pods), MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", h>>16, h>>8&0xff, h&0xff),
					Action: step.action, State: step.state, Detail: step.detail}
				if _, err := tx.AppendEvent(ev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	m, err := podmgr.Open(ctx, st, quiet())
	if err != nil {
		b.Fatal(err)
	}
	svc := NewService(m, Relays{})
	for _, bc := range []struct {
		name  string
		names []string
		want  int
	}{{"one pod", []string{"pod-1333"}, 1}, {"all pods", nil, pods}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, err := svc.Status(ctx, bc.names...)
				if err != nil || len(st) != bc.want || st[len(st)-1].InProgress != hosts/pods {
					b.Fatalf("%d statuses (%v), the last %+v", len(st), err, st[len(st)-1])
				}
			}
		})
	}
}
