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

func TestParseModinfoAliasesSoftdepFirmware(t *testing.T) {
	data := []byte("alias=pci:v000010ECd00008168sv*sd*bc*sc*i*\x00softdep=pre: realtek\x00firmware=rtl_nic/rtl8168d-1.fw\x00name=r8169\x00alias=pci:v000010ECd00008125sv*sd*bc*sc*i*\x00")
	got := parseModinfo(data)
	if len(got.Aliases) != 2 || !slices.Equal(got.SoftPre, []string{"realtek"}) || got.SoftPost != nil || !slices.Equal(got.Firmware, []string{"rtl_nic/rtl8168d-1.fw"}) {
		t.Fatalf("parseModinfo = %+v", got)
	}
	pre, post := parseSoftdep("pre: a-b c post: d")
	if !slices.Equal(pre, []string{"a_b", "c"}) || !slices.Equal(post, []string{"d"}) {
		t.Fatalf("parseSoftdep = %v %v", pre, post)
	}
}

func TestFnmatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"pci:v00008086d000010D3sv*sd*bc*sc*i*", "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", true},
		{"pci:v00008086d000010D3sv*sd*bc*sc*i*", "pci:v00008086d000010D4sv00008086sd00000000bc02sc00i00", false},
		{"pci:v*d*sv*sd*bc01sc08i02*", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", true},
		{"scsi:t_0x00*", "scsi:t_0x00", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"x[0-9]y", "x5y", true},
		{"x[!0-9]y", "x5y", false},
		{"x[^a]y", "xby", true},
		{"x[]]y", "x]y", true},
		{"a\\*b", "a*b", true},
		{"a\\*b", "axb", false},
		{"of:N*T*Cfoo/bar*", "of:NxTyCfoo/bar1", true},
		{"abc[", "abc[", true},
		{"", "", true},
		{"*", "", true},
	}
	for _, tt := range tests {
		if got := Fnmatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Fnmatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"scsi:t-0x00*": "scsi:t_0x00*", "a[x-z]-b": "a[x-z]_b", "acpi*:PNP0A08:*": "acpi*:PNP0A08:*"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTableRoundTrip: what the builder writes, the agent reads back and matches with
// (every module whose alias matches, as modprobe loads them all).
func TestTableRoundTrip(t *testing.T) {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "virtio_pci", Depends: []string{"virtio", "virtio_ring"}, Aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}},
		{Name: "virtio_net", Depends: []string{"net_failover"}, Aliases: []string{"virtio:d00000001v*"}},
		{Name: "sd_mod", Aliases: []string{"scsi:t-0x00*", "scsi:t-0x07*"}},
		{Name: "r8169", SoftPre: []string{"realtek"}, Aliases: []string{"pci:v000010ECd00008168sv*sd*bc*sc*i*"}},
		{Name: "ahci", Aliases: []string{"pci:v*d*sv*sd*bc01sc06i01*"}},
		{Name: "intel_sata", Aliases: []string{"pci:v00008086d00002922sv*sd*bc*sc*i*"}},
		{Name: "mlx4_en", Depends: []string{"mlx4_core"}},
	} {
		tab.Add(info)
	}
	var a, d, s strings.Builder
	if err := tab.WriteAlias(&a); err != nil {
		t.Fatal(err)
	}
	if err := tab.WriteDep(&d); err != nil {
		t.Fatal(err)
	}
	if err := tab.WriteSoftdep(&s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTable(strings.NewReader(a.String()), strings.NewReader(d.String()), strings.NewReader(s.String()))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00": {"virtio_pci"},
		"virtio:d00000001v00001AF4":                             {"virtio_net"},
		"scsi:t-0x00":                                           {"sd_mod"},
		"scsi:t-0x05":                                           nil,
		"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01": {"ahci", "intel_sata"},
		"pci:v000010ECd00008168sv000010ECsd00008168bc02sc00i00": {"r8169"},
	}
	for alias, want := range tests {
		if m := got.Match(alias); !slices.Equal(m, want) {
			t.Errorf("Match(%s) = %v, want %v", alias, m, want)
		}
	}
	if !slices.Equal(got.Deps["virtio_pci"], []string{"virtio", "virtio_ring"}) || !slices.Equal(got.SoftPre["r8169"], []string{"realtek"}) || !got.Has("mlx4_en") {
		t.Errorf("deps %v softdeps %v", got.Deps, got.SoftPre)
	}
	if _, err := ReadTable(strings.NewReader("alias onlytwo\n"), strings.NewReader(""), nil); err == nil {
		t.Error("a malformed modules.alias line was accepted")
	}
}

// TestMatchIndex: the prefix index gives what trying every pattern gives, in table
// order: exact device aliases, class aliases (no literal beyond "pci:v"), patterns
// without any literal prefix, brackets, escapes and '-' folding.
func TestMatchIndex(t *testing.T) {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "e1000e", Aliases: []string{"pci:v00008086d000010D3sv*sd*bc*sc*i*"}},
		{Name: "ahci", Aliases: []string{"pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv*sd*bc*sc*i*"}},
		{Name: "nvme", Aliases: []string{"pci:v*d*sv*sd*bc01sc08i02*"}},
		{Name: "sd_mod", Aliases: []string{"scsi:t-0x00*", "scsi:t-0x0[7E]*"}},
		{Name: "anything", Aliases: []string{"*v00001AF4*"}},
		{Name: "escaped", Aliases: []string{`acpi\*:IPI0001:*`}},
		{Name: "virtio_scsi", Aliases: []string{"virtio:d00000008v*"}},
	} {
		tab.Add(info)
	}
	linear := func(modalias string) []string {
		m := Normalize(modalias)
		var out []string
		for _, a := range tab.aliases {
			if !slices.Contains(out, a.module) && Fnmatch(a.pattern, m) {
				out = append(out, a.module)
			}
		}
		return out
	}
	tests := []struct {
		modalias string
		want     []string
	}{
		{"pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", []string{"e1000e"}},
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", []string{"ahci", "anything"}},
		{"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", []string{"nvme", "anything"}},
		{"scsi:t-0x00", []string{"sd_mod"}},
		{"scsi:t-0x0E", []string{"sd_mod"}},
		{"scsi:t-0x05", nil},
		{"acpi*:IPI0001:", []string{"escaped"}},
		{"virtio:d00000008v00001AF4", []string{"anything", "virtio_scsi"}},
		{"", nil},
		{"p", nil},
	}
	for _, tt := range tests {
		got := tab.Match(tt.modalias)
		if !slices.Equal(got, tt.want) || !slices.Equal(got, linear(tt.modalias)) {
			t.Errorf("Match(%q) = %v, want %v (every pattern tried: %v)", tt.modalias, got, tt.want, linear(tt.modalias))
		}
	}
}
