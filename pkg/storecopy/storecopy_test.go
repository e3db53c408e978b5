package storecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

var actor = podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}

func openBolt(t *testing.T) *podmgr.BoltStore {
	t.Helper()
	st, err := podmgr.OpenBolt(filepath.Join(t.TempDir(), "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed fills st through a Manager: pod names whose key order differs between the
// stores, more hosts than one etcd transaction takes, reservations, events, leases.
func seed(t *testing.T, st podmgr.Store) {
	t.Helper()
	ctx := context.Background()
	m, err := podmgr.Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.ApplyProfile(ctx, actor, podmgr.Profile{Name: "default", KernelArgs: "quiet"}, true); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "a-b", "a.c"} {
		p := podmgr.Pod{Name: name, Match: []podmgr.MatchRule{{Giaddr: fmt.Sprintf("192.0.2.%d", i+1)}}, Profile: "default",
			Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24"}}, ServerAddress: "198.51.100.10"}
		if _, err := m.CreatePod(ctx, actor, p); err != nil {
			t.Fatal(err)
		}
		var hs []podmgr.Host
		for j := range 20 {
			hs = append(hs, podmgr.Host{MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i, j), Pod: name, ProvisioningIP: fmt.Sprintf("192.0.2.%d", 10+j)})
		}
		if _, err := m.AddHosts(ctx, actor, hs); err != nil {
			t.Fatal(err)
		}
		if _, err := m.RecordHostEvent(ctx, hs[0].MAC, "test", "offered", "", podmgr.HostUpdate{State: podmgr.StateOffered}); err != nil {
			t.Fatal(err)
		}
		err := st.Update(ctx, func(tx podmgr.Tx) error {
			if err := tx.PutInventory(podmgr.Inventory{MAC: hs[2].MAC, UpdatedAt: time.Unix(2e9, 0).UTC(), Data: []byte(`{"dmi":{"serial":"S1"}}`)}); err != nil {
				return err
			}
			return tx.PutLease(podmgr.Lease{Pod: name, IP: "192.0.2.100", MAC: hs[1].MAC, Expires: time.Unix(2e9, 0).UTC()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := m.CreateToken(ctx, actor, "ci", podmgr.RoleCI); err != nil {
		t.Fatal(err)
	}
	for _, mac := range []string{"52:54:00:00:00:00", "52:54:00:00:01:01"} {
		if err := m.SetBMC(ctx, actor, podmgr.BMC{MAC: mac, Driver: podmgr.BMCRedfish, Address: "192.0.2.50", User: "admin", Password: []byte("sealed-" + mac)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetPodBMC(ctx, actor, podmgr.PodBMC{Pod: "a-b", Driver: podmgr.BMCIPMI, User: "admin", Password: []byte("sealed-pod-a-b")}); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTripBoltEtcdBolt: bbolt -> etcd (3 members) -> a new bbolt gives exactly the
// content the first had, records and their order, times and IDs included; a Manager
// loads the etcd copy; a copy into a store that holds anything is refused.
func TestRoundTripBoltEtcdBolt(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := context.Background()
	first := openBolt(t)
	seed(t, first)
	es, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/migrate/", RequestTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	want, err := Copy(ctx, first, es, 25)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Hosts) != 60 || len(want.Events) < 60 || len(want.Leases) != 3 || len(want.BMCs) != 2 || len(want.PodBMCs) != 1 {
		t.Fatalf("seeded %s", want.Counts())
	}
	m, err := podmgr.Open(ctx, es, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || m.Registry().HostCount("") != 60 {
		t.Fatalf("manager on the etcd copy: %v", err)
	}
	last := openBolt(t)
	if _, err := Copy(ctx, es, last, 1000); err != nil {
		t.Fatal(err)
	}
	a, err := Read(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Read(ctx, last)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("bbolt -> etcd -> bbolt changed the content: %v", Verify(ctx, a, last))
	}
	// The pod event index is derived: each target builds its own as the events arrive.
	for _, pod := range []string{"a", "a-b", "a.c"} {
		want := podEvents(t, first, pod)
		if len(want) == 0 || !reflect.DeepEqual(podEvents(t, es, pod), want) || !reflect.DeepEqual(podEvents(t, last, pod), want) {
			t.Fatalf("pod %s: the copies read its events by pod differently", pod)
		}
	}
	err = last.Update(ctx, func(tx podmgr.Tx) error {
		return tx.PutLease(podmgr.Lease{Pod: "a", IP: "192.0.2.100", MAC: "52:54:00:ff:ff:ff", Expires: time.Unix(2e9, 0).UTC()})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, a, last); err == nil || !strings.Contains(err.Error(), "Leases 1 differs") {
		t.Fatalf("verify after changing a lease: %v, want it named", err)
	}
	if _, err := Copy(ctx, first, es, 25); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("copy into a store that holds data: %v, want ErrNotEmpty", err)
	}
}

// podEvents reads a pod's host events through the pod event index.
func podEvents(t *testing.T, st podmgr.Store, pod string) []podmgr.Event {
	t.Helper()
	var evs []podmgr.Event
	err := st.View(context.Background(), func(tx podmgr.ReadTx) (err error) {
		evs, err = tx.Events(podmgr.EventFilter{Kind: podmgr.KindHost, Pod: pod, Since: time.Now().Add(-time.Hour)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
