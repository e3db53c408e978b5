package kmod

import (
	"slices"
	"strings"
	"testing"
)

func TestParseModinfo(t *testing.T) {
	data := []byte("license=GPL\x00depends=virtio_ring,virtio,net-failover\x00name=virtio_net\x00vermagic=6.1\x00")
	got := parseModinfo(data)
	if got.Name != "virtio_net" || !slices.Equal(got.Depends, []string{"virtio_ring", "virtio", "net_failover"}) {
		t.Fatalf("parseModinfo = %+v", got)
	}
	if got := parseModinfo([]byte("depends=\x00name=virtio\x00")); len(got.Depends) != 0 {
		t.Fatalf("empty depends parsed as %v", got.Depends)
	}
}

func TestOrderAndClosure(t *testing.T) {
	infos := map[string]Info{
		"virtio_ring":           {Name: "virtio_ring"},
		"virtio":                {Name: "virtio"},
		"virtio_pci":            {Name: "virtio_pci", Depends: []string{"virtio", "virtio_ring", "virtio_pci_modern_dev"}},
		"virtio_pci_modern_dev": {Name: "virtio_pci_modern_dev"},
		"failover":              {Name: "failover"},
		"net_failover":          {Name: "net_failover", Depends: []string{"failover"}},
		"virtio_net":            {Name: "virtio_net", Depends: []string{"net_failover", "virtio", "virtio_ring"}},
		"virtio_blk":            {Name: "virtio_blk", Depends: []string{"virtio", "virtio_ring"}},
		"unrelated":             {Name: "unrelated"},
	}
	tests := []struct {
		name    string
		want    []string
		names   []string
		missing []string
	}{
		{"virtio net and blk", []string{"virtio_net", "virtio-blk"}, []string{"failover", "net_failover", "virtio", "virtio_blk", "virtio_net", "virtio_ring"}, nil},
		{"absent NIC skipped", []string{"virtio_pci", "e1000e"}, []string{"virtio", "virtio_pci", "virtio_pci_modern_dev", "virtio_ring"}, []string{"e1000e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, missing, err := Closure(infos, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, tt.names) || !slices.Equal(missing, tt.missing) {
				t.Fatalf("Closure = %v missing %v, want %v missing %v", names, missing, tt.names, tt.missing)
			}
			set := map[string]Info{}
			for _, n := range names {
				set[n] = infos[n]
			}
			order, err := Order(set)
			if err != nil {
				t.Fatal(err)
			}
			pos := map[string]int{}
			for i, n := range order {
				pos[n] = i
			}
			for _, n := range order {
				for _, d := range set[n].Depends {
					if pos[d] > pos[n] {
						t.Fatalf("order %v loads %s before its dependency %s", order, n, d)
					}
				}
			}
		})
	}
}

func TestOrderErrors(t *testing.T) {
	tests := []struct {
		name  string
		infos map[string]Info
		want  string
	}{
		{"cycle", map[string]Info{"a": {Name: "a", Depends: []string{"b"}}, "b": {Name: "b", Depends: []string{"a"}}}, "cycle"},
		{"absent dependency", map[string]Info{"a": {Name: "a", Depends: []string{"zz"}}}, "not present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Order(tt.infos); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Order err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"drivers/net/virtio_net.ko": "virtio_net", "virtio-rng.ko": "virtio_rng", "mlx5_core": "mlx5_core", "x.ko.xz": "x"} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
