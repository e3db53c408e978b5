package podmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
)

func putInventory(t testing.TB, m *Manager, mac string, inv agentproto.Inventory) {
	t.Helper()
	b, _ := json.Marshal(inv)
	if err := m.Store().Batch(context.Background(), func(tx Tx) error {
		return tx.PutInventory(Inventory{MAC: mac, UpdatedAt: time.Now().UTC(), Data: b})
	}); err != nil {
		t.Fatal(err)
	}
}

func sampleInventory(i int) agentproto.Inventory {
	return agentproto.Inventory{
		System: agentproto.System{Vendor: "Dell Inc.", Product: fmt.Sprintf("PowerEdge R%d", 640+i%2*10), Serial: fmt.Sprintf("SVC%05d", i), UUID: fmt.Sprintf("4c4c4544-0000-1000-8000-%012d", i)},
		CPU:    agentproto.CPU{Model: "Intel(R) Xeon(R) Gold 6230", Count: 80}, MemoryBytes: 384 << 30,
		Disks: []agentproto.Disk{
			{Name: "sda", Model: "PERC H740P Mini", Serial: fmt.Sprintf("00a1b2c3d4e5f6%06d", i), WWN: fmt.Sprintf("0x6d0946606e2f%010x", i), SizeBytes: 480 << 30, Bus: "scsi"},
			{Name: "nvme0n1", Model: "Dell Ent NVMe P5600 MU U.2 1.6TB", Serial: fmt.Sprintf("PHAB%08d", i), SizeBytes: 1600 << 30, Bus: "nvme"},
		},
		NICs: []agentproto.NIC{
			{Name: "eno1", MAC: fmt.Sprintf("b4:96:91:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Driver: "i40e", PCI: "8086:1572", Link: true, SpeedMbps: 10000,
				LLDP: &agentproto.LLDP{ChassisID: "50:00:00:00:00:01", PortID: fmt.Sprintf("Ethernet1/%d", i%48+1), SystemName: "tor-a"}},
			{Name: "eno2", MAC: fmt.Sprintf("b4:96:92:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Driver: "i40e", PCI: "8086:1572"},
		},
	}
}

func TestSearchInventories(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	var hs []Host
	for i := range 6 {
		hs = append(hs, Host{MAC: fmt.Sprintf("52:54:00:88:00:%02x", i), Pod: "pod-a"})
	}
	if _, err := m.AddHosts(ctx, admin, hs); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // the sixth host has no inventory
		inv := sampleInventory(i)
		if i == 4 {
			inv.System.Serial = `S&N"4` // escaped in JSON
		}
		putInventory(t, m, hs[i].MAC, inv)
	}
	tests := []struct {
		where []string
		want  []int
	}{
		{[]string{"serial=SVC00002"}, []int{2}},
		{[]string{"serial=svc00002"}, []int{2}},
		{[]string{"serial=PHAB00000003"}, []int{3}},
		{[]string{"serial=SVC0000"}, nil}, // whole values only
		{[]string{`serial=S&N"4`}, []int{4}},
		{[]string{"wwn=0x6d0946606e2f0000000001"}, []int{1}},
		{[]string{"model=perc h740p mini"}, []int{0, 1, 2, 3, 4}},
		{[]string{"vendor=Dell Inc.", "product=PowerEdge R650"}, []int{1, 3}},
		{[]string{"product=PowerEdge R650", "serial=SVC00002"}, nil},
		{[]string{"mac=B4-96-92-00-00-03"}, []int{3}},
	}
	for _, tt := range tests {
		var conds []InventoryCond
		for _, w := range tt.where {
			c, err := ParseInventoryCond(w)
			if err != nil {
				t.Fatal(err)
			}
			conds = append(conds, c)
		}
		var want []string
		for _, i := range tt.want {
			want = append(want, hs[i].MAC)
		}
		for _, pod := range []string{"", "pod-a"} {
			got, err := m.SearchInventories(ctx, pod, conds)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("where %v pod %q: %v %v, want %v", tt.where, pod, got, err, want)
			}
		}
	}
	for _, bad := range []string{"serial", "serial=", "colour=red", "mac=nope"} {
		if _, err := ParseInventoryCond(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseInventoryCond(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// BenchmarkSearchInventories measures host list --where serial=X over N stored
// inventories (PODBOOT_BENCH_INVENTORIES, default 10000; bench/scale's size is
// 1,024,000): one full scan, the case without --pod.
func BenchmarkSearchInventories(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("PODBOOT_BENCH_INVENTORIES")); err == nil {
		n = v
	}
	path := filepath.Join(b.TempDir(), "podboot.db")
	st, err := OpenBolt(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	m, err := Open(ctx, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += 10000 {
		if err := m.Store().Batch(ctx, func(tx Tx) error {
			for i := start; i < min(start+10000, n); i++ {
				d, _ := json.Marshal(sampleInventory(i))
				if err := tx.PutInventory(Inventory{MAC: fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff), Data: d}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("%d inventories, database %d MB", n, fi.Size()>>20)
	}
	c, _ := ParseInventoryCond(fmt.Sprintf("serial=SVC%05d", n/2))
	b.ResetTimer()
	for range b.N {
		got, err := m.SearchInventories(ctx, "", []InventoryCond{c})
		if err != nil || len(got) != 1 {
			b.Fatalf("%v %v", got, err)
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, tt := range []struct {
		s, sub string
		want   bool
	}{
		{`{"serial":"SVC05000"}`, "svc05000", true},
		{`{"serial":"SVC05000"}`, "SVC0500", true},
		{`{"serial":"SVC05001"}`, "svc05000", false},
		{`{"product":"PowerEdge R650"}`, "poweredge r650", true},
		{`{"vendor":"Dell Inc."}`, "DELL INC.", true},
		{`{"vendor":"Dell"}`, "dell inc.", false},
		{`{"w":"0x6d0946606e2f"}`, "0X6D0946606E2F", true},
		{`ab123ab123c`, "AB123C", true},
		{`x`, "xy", false},
	} {
		if got := containsFold([]byte(tt.s), tt.sub); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v", tt.s, tt.sub, got)
		}
	}
}
