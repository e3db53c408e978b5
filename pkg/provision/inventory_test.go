package provision

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestInventory: the agent's inventory is stored (its own record, keyed by MAC) with
// an agent.inventory event summarising it; a bad body or a wrong token stores nothing;
// deleting the host deletes it.
func TestInventory(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h, _ := e.mgr.Registry().Host(mac)
	tok, _ := e.svc.HostToken(ctx, h, podmgr.HostStep{})
	inv := agentproto.Inventory{System: agentproto.System{Vendor: "Dell Inc.", Product: "PowerEdge R650", Serial: "ABC1234"}, CPU: agentproto.CPU{Count: 64},
		MemoryBytes: 256 << 30, Disks: []agentproto.Disk{{Name: "nvme0n1", Serial: "S5X", SizeBytes: 960e9, Bus: "nvme"}},
		NICs: []agentproto.NIC{{Name: "eth0", MAC: mac, Driver: "ice", PCI: "8086:1593", Link: true, SpeedMbps: 25000}}}
	tests := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"wrong token", "pbh_wrong", inv, http.StatusForbidden},
		{"unknown field", tok, map[string]any{"system": map[string]string{"serial": "x"}, "bmc": "10.0.0.1"}, http.StatusBadRequest},
		{"not an inventory", tok, []string{"x"}, http.StatusBadRequest},
		{"too large", tok, map[string]string{"x": strings.Repeat("a", podmgr.MaxInventorySize)}, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.client(t, tt.token).Post(ctx, agentproto.InventoryPath, tt.body); status(err) != tt.want {
				t.Fatalf("err = %v, want %d", err, tt.want)
			}
			if _, ok, _ := e.mgr.HostInventory(ctx, mac); ok {
				t.Fatal("a refused inventory was stored")
			}
		})
	}
	if err := e.client(t, tok).Post(ctx, agentproto.InventoryPath, inv); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := e.mgr.HostInventory(ctx, mac)
	if err != nil || !ok {
		t.Fatalf("inventory not stored: %v", err)
	}
	var got agentproto.Inventory
	if err := json.Unmarshal(rec.Data, &got); err != nil || got.System.Serial != "ABC1234" || got.NICs[0].Driver != "ice" {
		t.Fatalf("stored %s (%v)", rec.Data, err)
	}
	evs, _ := e.mgr.HostEvents(ctx, mac)
	last := evs[len(evs)-1]
	if last.Action != agentproto.ActionInventory || !strings.Contains(last.Detail, `serial="ABC1234"`) || !strings.Contains(last.Detail, "disk=nvme0n1:960000MB:nvme") {
		t.Fatalf("last event %+v", last)
	}
	if err := e.mgr.DeleteHost(ctx, admin, mac); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.HostInventory(ctx, mac); err == nil {
		t.Fatal("inventory of a deleted host still served")
	}
}

// TestDiscoveredHostIsOnlyInspected: a discovered host (unknown MAC in a discover pod)
// gets inspection only: chainload says inspect, the image, signature, kickstart, bash
// package and installed call-back are refused; its inventory is stored, ends its
// token and leaves it discovered. Once accepted, the same host is installable.
func TestDiscoveredHostIsOnlyInspected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const unknown = "52:54:00:99:00:01"
	pod, _ := e.mgr.Registry().Pod("pod-a")
	p := pod.Pod
	p.UnknownHosts = podmgr.PolicyDiscover
	if _, _, err := e.mgr.ApplyPod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	h, err := e.mgr.Discover(ctx, "pod-a", unknown, podmgr.DiscoverInfo{Arch: "bios"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.svc.HostToken(ctx, h, podmgr.HostStep{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.clientFor(t, unknown, tok)
	var d agentproto.Chainload
	if err := c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil || !d.Inspect || d.URL != "" || d.Ref != "" {
		t.Fatalf("chainload for a discovered host: %+v %v", d, err)
	}
	for _, path := range []string{agentproto.Stage2Path, agentproto.SignaturePath, agentproto.KickstartPath, agentproto.PackagePath} {
		if _, err := c.GetBytes(ctx, path, 1<<20); status(err) != http.StatusForbidden {
			t.Errorf("GET %s for a discovered host: %v, want 403", path, err)
		}
	}
	if err := c.Post(ctx, agentproto.InstalledPath, agentproto.Installed{Disk: "sda", SHA256: "x", Finish: "reboot"}); status(err) != http.StatusForbidden {
		t.Fatalf("installed for a discovered host: %v, want 403", err)
	}
	if err := c.Post(ctx, agentproto.InventoryPath, agentproto.Inventory{System: agentproto.System{Serial: "SN-DISC"}}); err != nil {
		t.Fatal(err)
	}
	h, _ = e.mgr.Registry().Host(unknown)
	if h.State != podmgr.StateDiscovered || h.TokenHash != "" || !h.Discovered {
		t.Fatalf("after inspection: %+v", h)
	}
	if _, ok, _ := e.mgr.HostInventory(ctx, unknown); !ok {
		t.Fatal("inventory of the discovered host not stored")
	}
	if _, err := e.mgr.AcceptHost(ctx, admin, unknown, "", "", ""); err == nil {
		t.Fatal("accepted without a hostname")
	}
	if _, err := e.mgr.AcceptHost(ctx, admin, mac, "node9", "", ""); err == nil {
		t.Fatal("accepted a registered host")
	}
	if _, err := e.mgr.AcceptHost(ctx, admin, unknown, "node1", "", ""); err == nil {
		t.Fatal("accepted with a hostname another host of the pod has")
	}
	h, err = e.mgr.AcceptHost(ctx, admin, unknown, "node2", "203.0.113.22", "")
	if err != nil || h.Discovered || h.State != podmgr.StateRegistered || !h.Netboot {
		t.Fatalf("accept: %+v %v", h, err)
	}
	tok, _ = e.svc.HostToken(ctx, h, podmgr.HostStep{})
	c = e.clientFor(t, unknown, tok)
	d = agentproto.Chainload{}
	if err := c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil || d.Inspect || d.Ref != "os@1" {
		t.Fatalf("chainload after accept: %+v %v", d, err)
	}
	if _, err := c.GetBytes(ctx, agentproto.KickstartPath, 1<<20); err != nil {
		t.Fatalf("kickstart after accept: %v", err)
	}
}
