package etcdstore

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestBMCRecordsSameAsBolt: a host's BMC record is stored, listed and deleted with its
// host the same way by both stores, and refused for a host that does not exist.
func TestBMCRecordsSameAsBolt(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	stores := map[string]podmgr.Store{"bbolt": openBolt(t), "etcd": openStore(t, c, "/bmc/")}
	got := map[string][]podmgr.BMC{}
	for name, st := range stores {
		m := openManager(t, st)
		if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "prof"}, true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := m.CreatePod(ctx, testActor, pod("p1", "192.0.2.1", "prof")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := m.AddHosts(ctx, testActor, []podmgr.Host{{MAC: "52:54:00:00:00:01", Pod: "p1"}, {MAC: "52:54:00:00:00:02", Pod: "p1"}}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02"} {
			b := podmgr.BMC{MAC: mac, Driver: podmgr.BMCIPMI, Address: "192.0.2.10", User: "admin", Password: []byte("sealed")}
			if err := m.SetBMC(ctx, testActor, b); err != nil {
				t.Fatalf("%s: set bmc: %v", name, err)
			}
		}
		err := m.SetBMC(ctx, testActor, podmgr.BMC{MAC: "52:54:00:00:00:09", Driver: podmgr.BMCIPMI, Address: "192.0.2.10", User: "a", Password: []byte("x")})
		if !errors.Is(err, podmgr.ErrNotFound) {
			t.Fatalf("%s: bmc of an unknown host: %v, want not found", name, err)
		}
		if err := m.DeleteHost(ctx, testActor, "52:54:00:00:00:02"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = st.View(ctx, func(tx podmgr.ReadTx) error {
			return tx.EachBMC(func(b podmgr.BMC) error {
				got[name] = append(got[name], podmgr.BMC{MAC: b.MAC, Driver: b.Driver, Address: b.Address, User: b.User, Password: b.Password})
				return nil
			})
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(got["bbolt"]) != 1 || got["bbolt"][0].MAC != "52:54:00:00:00:01" {
		t.Fatalf("bbolt BMCs after deleting a host: %+v, want only 52:54:00:00:00:01", got["bbolt"])
	}
	if !reflect.DeepEqual(got["bbolt"], got["etcd"]) {
		t.Fatalf("stores differ: bbolt %+v, etcd %+v", got["bbolt"], got["etcd"])
	}
}
