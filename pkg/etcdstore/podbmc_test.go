package etcdstore

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestPodBMCDefaultsSameAsBolt: a pod's BMC defaults are stored, replaced, listed and
// deleted with their pod the same way by both stores, and refused for a pod that does
// not exist.
func TestPodBMCDefaultsSameAsBolt(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	stores := map[string]podmgr.Store{"bbolt": openBolt(t), "etcd": openStore(t, c, "/podbmc/")}
	got := map[string][]podmgr.PodBMC{}
	for name, st := range stores {
		m := openManager(t, st)
		if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "prof"}, true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, p := range []string{"p1", "p2"} {
			if _, err := m.CreatePod(ctx, testActor, pod(p, []string{"192.0.2.1", "192.0.2.2"}[i], "prof")); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b := podmgr.PodBMC{Pod: p, Driver: podmgr.BMCIPMI, User: "admin", Password: []byte("sealed-" + p)}
			if err := m.SetPodBMC(ctx, testActor, b); err != nil {
				t.Fatalf("%s: set pod bmc: %v", name, err)
			}
		}
		if err := m.SetPodBMC(ctx, testActor, podmgr.PodBMC{Pod: "p1", Driver: podmgr.BMCRedfish, User: "root", Password: []byte("sealed-2")}); err != nil {
			t.Fatalf("%s: replace pod bmc: %v", name, err)
		}
		if err := m.SetPodBMC(ctx, testActor, podmgr.PodBMC{Pod: "nope", User: "a"}); !errors.Is(err, podmgr.ErrNotFound) {
			t.Fatalf("%s: bmc defaults of an unknown pod: %v, want not found", name, err)
		}
		if err := m.SetPodBMC(ctx, testActor, podmgr.PodBMC{Pod: "p1", Driver: "telnet"}); !errors.Is(err, podmgr.ErrInvalid) {
			t.Fatalf("%s: driver telnet: %v, want invalid", name, err)
		}
		if err := m.DeletePod(ctx, testActor, "p2", true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := st.View(ctx, func(tx podmgr.ReadTx) error {
			return tx.EachPodBMC(func(b podmgr.PodBMC) error {
				got[name] = append(got[name], podmgr.PodBMC{Pod: b.Pod, Driver: b.Driver, User: b.User, Password: b.Password})
				return nil
			})
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok, err := m.PodBMCOf(ctx, "p2"); ok || err != nil {
			t.Fatalf("%s: defaults of the deleted pod p2: ok=%v err=%v", name, ok, err)
		}
	}
	want := []podmgr.PodBMC{{Pod: "p1", Driver: podmgr.BMCRedfish, User: "root", Password: []byte("sealed-2")}}
	if !reflect.DeepEqual(got["bbolt"], want) {
		t.Fatalf("bbolt pod BMC defaults: %+v, want %+v", got["bbolt"], want)
	}
	if !reflect.DeepEqual(got["bbolt"], got["etcd"]) {
		t.Fatalf("stores differ: bbolt %+v, etcd %+v", got["bbolt"], got["etcd"])
	}
}
