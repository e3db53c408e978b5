package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// atOnce runs fa and fb starting at the same instant and returns their errors.
func atOnce(fa, fb func() error) (errA, errB error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); <-start; errA = fa() }()
	go func() { defer wg.Done(); <-start; errB = fb() }()
	close(start)
	wg.Wait()
	return errA, errB
}

// narrowPod is pod(name) with its subnet cut to the upper half of 192.0.2.0/24, which
// strands a host reserved at 192.0.2.10.
func narrowPod(name, giaddr, profile string) podmgr.Pod {
	p := pod(name, giaddr, profile)
	p.Subnets = []podmgr.Subnet{{CIDR: "192.0.2.128/25", Gateway: "192.0.2.129", RangeStart: "192.0.2.150", RangeEnd: "192.0.2.200"}}
	return p
}

// TestReplicasRaceProfileAndPodChecks: the two checks that would need a scan of every
// host, made at the same instant on two replicas (two Managers on one 3-member etcd),
// many rounds. Deleting a profile on A while B registers a host overriding to it: one
// wins; the delete that loses gets ErrConflict (409), the registration that loses finds
// the profile gone (400) or the conflict; never a host naming a deleted profile.
// Narrowing a pod's subnet on A while B registers a host reserved outside the new
// subnet: one wins, the other gets ErrConflict (or 400 when B's memory already had the
// new pod); never a host stranded outside its pod's subnets.
func TestReplicasRaceProfileAndPodChecks(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	ctx := context.Background()
	a := openManager(t, openStore(t, c, "/race2/"))
	const rounds = 15
	for _, name := range []string{"default"} {
		if _, _, err := a.ApplyProfile(ctx, testActor, podmgr.Profile{Name: name}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.CreatePod(ctx, testActor, pod("pa", "192.0.2.1", "default")); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		if _, _, err := a.ApplyProfile(ctx, testActor, podmgr.Profile{Name: fmt.Sprintf("px%d", i)}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreatePod(ctx, testActor, pod(fmt.Sprintf("s%d", i), fmt.Sprintf("203.0.113.%d", i+1), "default")); err != nil {
			t.Fatal(err)
		}
	}
	b := openManager(t, openStore(t, c, "/race2/")) // loads what A wrote
	view := func(fn func(tx podmgr.ReadTx) error) {
		t.Helper()
		if err := a.Store().View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("profile delete against host override", func(t *testing.T) {
		deletes := 0
		for i := range rounds {
			prof, mac := fmt.Sprintf("px%d", i), fmt.Sprintf("52:54:00:bb:00:%02x", i)
			errA, errB := atOnce(
				func() error { return a.DeleteProfile(ctx, testActor, prof) },
				func() error {
					_, err := b.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: "pa", Profile: prof}})
					return err
				})
			switch {
			case errA == nil && (errors.Is(errB, podmgr.ErrInvalid) || errors.Is(errB, podmgr.ErrConflict)):
				deletes++
			case errB == nil && errors.Is(errA, podmgr.ErrConflict):
			default:
				t.Fatalf("round %d: delete on A: %v; host add on B: %v; want exactly one success", i, errA, errB)
			}
			view(func(tx podmgr.ReadTx) error {
				_, hasProf, err := tx.Profile(prof)
				if err != nil {
					return err
				}
				h, hasHost, err := tx.Host(mac)
				if err != nil {
					return err
				}
				if hasProf == hasHost && (!hasHost || h.Profile == prof) {
					return nil
				}
				return fmt.Errorf("round %d: profile stored %v, host stored %v (%+v)", i, hasProf, hasHost, h)
			})
		}
		t.Logf("the delete won %d of %d rounds", deletes, rounds)
	})

	t.Run("pod change against new host", func(t *testing.T) {
		narrowed := 0
		for i := range rounds {
			name, mac := fmt.Sprintf("s%d", i), fmt.Sprintf("52:54:00:cc:00:%02x", i)
			errA, errB := atOnce(
				func() error {
					_, _, err := a.ApplyPod(ctx, testActor, narrowPod(name, fmt.Sprintf("203.0.113.%d", i+1), "default"))
					return err
				},
				func() error {
					_, err := b.AddHosts(ctx, testActor, []podmgr.Host{{MAC: mac, Pod: name, ProvisioningIP: "192.0.2.10"}})
					return err
				})
			switch {
			case errA == nil && (errors.Is(errB, podmgr.ErrConflict) || errors.Is(errB, podmgr.ErrInvalid)):
				narrowed++
			case errB == nil && errors.Is(errA, podmgr.ErrConflict):
			default:
				t.Fatalf("round %d: pod change on A: %v; host add on B: %v; want exactly one success", i, errA, errB)
			}
			view(func(tx podmgr.ReadTx) error {
				p, _, err := tx.Pod(name)
				if err != nil {
					return err
				}
				_, hasHost, err := tx.Host(mac)
				if err != nil {
					return err
				}
				wide := netip.MustParsePrefix(p.Subnets[0].CIDR).Contains(netip.MustParseAddr("192.0.2.10"))
				if hasHost != wide {
					return fmt.Errorf("round %d: pod subnet %s, host stored %v", i, p.Subnets[0].CIDR, hasHost)
				}
				return nil
			})
		}
		t.Logf("the pod change won %d of %d rounds", narrowed, rounds)
	})
}

// TestProfileIndexBuiltAndSelfHealing: a prefix written before the profile index existed
// gets it built at Open, so the store refuses to delete a profile a host overrides to;
// an index entry whose host does not name the profile does not block the delete and is
// dropped by it.
func TestProfileIndexBuiltAndSelfHealing(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	m := openManager(t, openStore(t, c, "/pidx/"))
	for _, p := range []string{"default", "px", "py"} {
		if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: p}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.CreatePod(ctx, testActor, pod("pa", "192.0.2.1", "default")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, testActor, []podmgr.Host{{MAC: "52:54:00:ee:00:01", Pod: "pa", Profile: "px"}}); err != nil {
		t.Fatal(err)
	}
	cli := c.Client()
	// As a prefix written before the index: no entries, no built marker. And a stale
	// entry for py.
	for _, k := range []string{"/pidx/hosts-by-profile/", "/pidx/meta/" + profileIndexBuilt} {
		if _, err := cli.Delete(ctx, k, clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, "/pidx/hosts-by-profile/py/52:54:00:ee:00:09", ""); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, c, "/pidx/")
	del := func(name string) error {
		return st.Update(ctx, func(tx podmgr.Tx) error { return tx.DeleteProfile(name) })
	}
	if err := del("px"); !errors.Is(err, podmgr.ErrConflict) {
		t.Fatalf("delete of profile px, the override of a stored host: %v, want ErrConflict", err)
	}
	if err := del("py"); err != nil {
		t.Fatalf("delete of profile py with only a stale index entry: %v", err)
	}
	r, err := cli.Get(ctx, "/pidx/hosts-by-profile/py/", clientv3.WithPrefix())
	if err != nil || r.Count != 0 {
		t.Fatalf("stale entry not dropped: %v, %d left", err, r.Count)
	}
}
