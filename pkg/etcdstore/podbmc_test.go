package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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
	for name, st := range stores {
		deletePodBMCRefusedWhileRelied(t, name, openManager(t, st))
	}
}

// deletePodBMCRefusedWhileRelied: p1's defaults (driver redfish, user root, password)
// cannot be deleted while a host's BMC leaves its user and password to them; once the
// host sets its own, they can, once, with 150 more hosts with BMCs in the pod.
func deletePodBMCRefusedWhileRelied(t *testing.T, name string, m *podmgr.Manager) {
	ctx := context.Background()
	const mac = "52:54:00:0b:00:01"
	if _, err := m.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "p1"}}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := m.SetBMC(ctx, testActor, podmgr.BMC{MAC: mac, Driver: podmgr.BMCRedfish, Address: "192.0.2.9"}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	err := m.DeletePodBMC(ctx, testActor, "p1")
	if !errors.Is(err, podmgr.ErrConflict) || !strings.Contains(err.Error(), mac+" (user, password)") {
		t.Fatalf("%s: delete defaults a host relies on: %v, want a conflict naming %s (user, password)", name, err, mac)
	}
	if _, ok, err := m.PodBMCOf(ctx, "p1"); !ok || err != nil {
		t.Fatalf("%s: defaults after the refused delete: ok=%v err=%v", name, ok, err)
	}
	if err := m.SetBMC(ctx, testActor, podmgr.BMC{MAC: mac, Address: "192.0.2.9", Driver: podmgr.BMCRedfish, User: "u", Password: []byte("sealed-h")}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// More hosts with BMCs of their own than one etcd transaction may compare.
	var more []podmgr.Host
	for i := range 150 {
		more = append(more, podmgr.Host{MAC: fmt.Sprintf("52:54:00:0b:01:%02x", i), Pod: "p1"})
	}
	if _, err := m.AddHosts(ctx, testActor, more); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, h := range more {
		if err := m.SetBMC(ctx, testActor, podmgr.BMC{MAC: h.MAC, Address: "192.0.2.9", Driver: podmgr.BMCRedfish, Port: 1, User: "u", Password: []byte("s"), InsecureTLS: true}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := m.DeletePodBMC(ctx, testActor, "p1"); err != nil {
		t.Fatalf("%s: delete unused defaults: %v", name, err)
	}
	if _, ok, err := m.PodBMCOf(ctx, "p1"); ok || err != nil {
		t.Fatalf("%s: defaults after the delete: ok=%v err=%v", name, ok, err)
	}
	if err := m.DeletePodBMC(ctx, testActor, "p1"); !errors.Is(err, podmgr.ErrNotFound) {
		t.Fatalf("%s: second delete: %v, want not found", name, err)
	}
	evs, err := m.Events(ctx, podmgr.EventFilter{Kind: podmgr.KindAudit})
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Action != "pod.bmc.delete" || strings.Contains(evs[len(evs)-1].Detail, "sealed") {
		t.Fatalf("%s: last audit event %+v (%v), want pod.bmc.delete without the secret", name, evs, err)
	}
}
