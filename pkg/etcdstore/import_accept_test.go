package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

const discoveredN = 45

func discoveredMAC(i int) string { return fmt.Sprintf("52:54:00:dd:00:%02x", i) }

// mixedImport prepares pod pa (discover policy, BMC defaults), discovered hosts with
// serials SN-0… (the first with a BMC of its own), and returns an import of 5 new hosts
// and every discovered host, each with an address-only BMC: 50 rows, three parts.
func mixedImport(t *testing.T, m *podmgr.Manager) podmgr.ImportRequest {
	t.Helper()
	ctx := context.Background()
	if _, _, err := m.ApplyProfile(ctx, testActor, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	p := importPod()
	p.UnknownHosts = podmgr.PolicyDiscover
	if _, err := m.CreatePod(ctx, testActor, p); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPodBMC(ctx, testActor, podmgr.PodBMC{Pod: "pa", Driver: podmgr.BMCIPMI, User: "admin", Password: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	var rows []podmgr.SerialAccept
	for i := range discoveredN {
		mac := discoveredMAC(i)
		if _, err := m.Discover(ctx, "pa", mac, podmgr.DiscoverInfo{Arch: "bios"}); err != nil {
			t.Fatal(err)
		}
		inv, _ := json.Marshal(map[string]any{"system": map[string]string{"serial": fmt.Sprintf("SN-%d", i)}})
		if err := m.Store().Batch(ctx, func(tx podmgr.Tx) error {
			return tx.PutInventory(podmgr.Inventory{MAC: mac, UpdatedAt: time.Now().UTC(), Data: inv})
		}); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, podmgr.SerialAccept{Serial: fmt.Sprintf("sn-%d", i), Hostname: fmt.Sprintf("n%d", i)})
	}
	if err := m.SetBMC(ctx, testActor, podmgr.BMC{MAC: discoveredMAC(0), Address: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	acc, err := m.ResolveSerials(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	req := podmgr.ImportRequest{Hosts: importHosts(3000, 5, false), Accepts: acc, BMCs: map[string]podmgr.BMC{}}
	for i, a := range acc {
		req.BMCs[a.MAC] = podmgr.BMC{Address: fmt.Sprintf("192.0.2.%d", 10+i)}
	}
	return req
}

// checkNothingImported: every discovered host but except is discovered again with its
// BMC as before the import (the first: its own; the rest: none), and none of the new
// hosts is stored.
func checkNothingImported(t *testing.T, st podmgr.Store, req podmgr.ImportRequest, except string) {
	t.Helper()
	err := st.View(context.Background(), func(tx podmgr.ReadTx) error {
		for _, h := range req.Hosts {
			if _, ok, err := tx.Host(h.MAC); err != nil || ok {
				return fmt.Errorf("new host %s stored (%v) after the import failed", h.MAC, err)
			}
		}
		for i := range discoveredN {
			mac := discoveredMAC(i)
			if mac == except {
				continue
			}
			h, ok, err := tx.Host(mac)
			if err != nil || !ok || !h.Discovered || h.Hostname != "" || h.State != podmgr.StateDiscovered {
				return fmt.Errorf("host %s after the failed import: %+v %v %v, want discovered", mac, h, ok, err)
			}
			b, ok, err := tx.BMC(mac)
			if err != nil || (i == 0) != ok || (ok && b.Address != "198.51.100.1") {
				return fmt.Errorf("bmc of %s after the failed import: %+v %v %v", mac, b, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSerialImportInPartsIsAllOrNothing: an import of new hosts, discovered hosts
// accepted by serial and their BMCs (address only, the pod's defaults for the rest) is
// written in parts; when another replica accepts a host of the last part in between,
// the import fails saying nothing was imported: the new hosts are gone, the hosts of
// the written parts are discovered again with their BMCs as before. Then the same
// import without the taken host goes through whole.
func TestSerialImportInPartsIsAllOrNothing(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	st := &partFailer{Store: openStore(t, c, "/serial/")}
	m := openManager(t, st)
	other := openManager(t, openStore(t, c, "/serial/"))
	req := mixedImport(t, m)
	taken := req.Accepts[len(req.Accepts)-1].MAC
	st.at = st.n.Load() + 3 // before the third part
	st.before = func() {
		testutil.WaitFor(t, 5*time.Second, "the other replica to see the discovered host", func() bool { _, ok := other.Registry().Host(taken); return ok })
		if _, err := other.AcceptHost(ctx, testActor, taken, "elsewhere", "", ""); err != nil {
			t.Error(err)
		}
	}
	_, err := m.Import(ctx, testActor, req)
	// The taken host is in the last part, whatever number the store's bound makes it.
	var part, parts int
	if m := regexp.MustCompile(`part (\d+)/(\d+)`).FindStringSubmatch(fmt.Sprint(err)); m != nil {
		part, _ = strconv.Atoi(m[1])
		parts, _ = strconv.Atoi(m[2])
	}
	if !errors.Is(err, podmgr.ErrConflict) || part != parts || parts < 3 || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("import with a host accepted meanwhile: %v, want a conflict in the last part (of 3 or more) saying nothing was imported", err)
	}
	checkNothingImported(t, st, req, taken)

	req.Accepts = req.Accepts[:len(req.Accepts)-1]
	delete(req.BMCs, taken)
	hs, err := m.Import(ctx, testActor, req)
	if err != nil || len(hs) != len(req.Hosts)+len(req.Accepts) {
		t.Fatalf("import: %d hosts, %v", len(hs), err)
	}
	for i, a := range req.Accepts {
		h, ok := m.Registry().Host(a.MAC)
		b, _, berr := m.BMCOf(ctx, a.MAC)
		if !ok || h.Discovered || h.Hostname != fmt.Sprintf("n%d", i) || berr != nil || b.Address != req.BMCs[a.MAC].Address {
			t.Fatalf("host %s after the import: %+v, bmc %+v %v", a.MAC, h, b, berr)
		}
	}
}

// TestAbandonedSerialImportIsRolledBack: the store of the replica importing goes away
// after two parts: another replica rolls the import back, so the accepted
// hosts are discovered again with their BMCs as before and the new hosts are gone, and
// its audit event says so.
func TestAbandonedSerialImportIsRolledBack(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	open := storeOpener(t, c, "/abandon-serial/")
	dying := open(Config{ImportTTL: 2 * time.Second})
	st := &partFailer{Store: dying}
	m := openManager(t, st)
	req := mixedImport(t, m)
	survivor := open(Config{ImportSweep: 100 * time.Millisecond})
	st.at = st.n.Load() + 3 // before the third part
	st.before = func() { dying.Close() }
	if _, err := m.Import(ctx, testActor, req); err == nil {
		t.Fatal("an import whose store closed mid-way succeeded")
	}
	testutil.WaitFor(t, 30*time.Second, "the abandoned import to be rolled back", func() bool {
		r, err := c.Client().Get(ctx, "/abandon-serial/imports/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 0
	})
	checkNothingImported(t, survivor, req, "")
	var evs []podmgr.Event
	if err := survivor.View(ctx, func(tx podmgr.ReadTx) (err error) {
		evs, err = tx.Events(podmgr.EventFilter{Kind: podmgr.KindAudit})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != "host.import.rollback" || !strings.Contains(last.Detail, "cut off after 2 parts") || !strings.Contains(last.Detail, "discovered hosts it accepted are discovered again") {
		t.Fatalf("last audit event %s %q", last.Action, last.Detail)
	}
}
