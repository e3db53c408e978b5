package podmgr

import (
	"context"
	"errors"
	"testing"
)

// TestAcceptBySerial: rows keyed by serial accept the discovered host whose inspection
// reported it; a serial nobody reported, or one two hosts reported, fails the whole
// request with nothing accepted; a registered host's serial never matches.
func TestAcceptBySerial(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	p := testPod("pod-r", "192.0.2.9")
	p.Subnets[0].CIDR, p.Subnets[0].Gateway, p.Subnets[0].RangeStart, p.Subnets[0].RangeEnd = "198.51.100.0/24", "198.51.100.1", "198.51.100.100", "198.51.100.200"
	p.UnknownHosts = PolicyDiscover
	if _, err := m.CreatePod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	macs := []string{"52:54:00:99:00:01", "52:54:00:99:00:02", "52:54:00:99:00:03", "52:54:00:99:00:04"}
	for i, mac := range macs {
		if _, err := m.Discover(ctx, "pod-r", mac, DiscoverInfo{Arch: "bios"}); err != nil {
			t.Fatal(err)
		}
		serial := []string{"PB-1", "PB-2", "PB-DUP", "PB-DUP"}[i]
		putInventory(t, m, mac, lldpInventory(serial))
	}
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:99:00:09", Pod: "pod-r"}}); err != nil {
		t.Fatal(err)
	}
	putInventory(t, m, "52:54:00:99:00:09", lldpInventory("PB-REG"))

	refused := []struct {
		name string
		rows []SerialAccept
		want error
	}{
		{"unknown serial", []SerialAccept{{Serial: "PB-1", Hostname: "n1"}, {Serial: "PB-NONE", Hostname: "n9"}}, ErrNotFound},
		{"registered host's serial", []SerialAccept{{Serial: "PB-REG", Hostname: "n1"}}, ErrNotFound},
		{"serial in another pod", []SerialAccept{{Serial: "PB-1", Pod: "pod-a", Hostname: "n1"}}, ErrNotFound},
		{"two hosts, one serial", []SerialAccept{{Serial: "PB-DUP", Hostname: "n3"}}, ErrConflict},
		{"serial twice", []SerialAccept{{Serial: "PB-1", Hostname: "n1"}, {Serial: "pb-1", Hostname: "n2"}}, ErrInvalid},
	}
	for _, tt := range refused {
		if _, err := m.AcceptBySerial(ctx, admin, tt.rows); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if h, _ := m.Registry().Host(macs[0]); !h.Discovered {
			t.Fatalf("%s: host %s was accepted by a refused request", tt.name, macs[0])
		}
	}
	hs, err := m.AcceptBySerial(ctx, admin, []SerialAccept{{Serial: "pb-2", Hostname: "n2", ManagementIP: "", Profile: "default"}, {Serial: "PB-1", Pod: "pod-r", Hostname: "n1"}})
	if err != nil || len(hs) != 2 || hs[0].MAC != macs[1] || hs[0].Hostname != "n2" || hs[1].MAC != macs[0] || hs[1].Discovered {
		t.Fatalf("accept by serial: %+v %v", hs, err)
	}
	evs, _ := m.HostEvents(ctx, macs[1])
	if last := evs[len(evs)-1]; last.Action != "accepted" || last.Actor != admin.Name {
		t.Fatalf("event %+v", last)
	}
}
