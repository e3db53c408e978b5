package podmgr

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/agentproto"
)

func lldpInventory(serial string, ports ...string) agentproto.Inventory {
	inv := agentproto.Inventory{System: agentproto.System{Serial: serial}}
	for i, p := range ports {
		inv.NICs = append(inv.NICs, agentproto.NIC{Name: "eth" + string(rune('0'+i)), Link: true, LLDP: &agentproto.LLDP{ChassisID: "02:00:00:00:00:01", PortID: p, SystemName: "tor-a"}})
	}
	return inv
}

func TestAcceptRuleMatch(t *testing.T) {
	lldpRule := AcceptRule{LLDPPort: "Ethernet1/{n}", Hostname: "rack1-node{n}", IP: "203.0.113.{n}"}
	tests := []struct {
		name         string
		rule         AcceptRule
		inv          agentproto.Inventory
		hostname, ip string
		ok           bool
		whyContains  string
	}{
		{"port number", lldpRule, lldpInventory("", "Ethernet1/7"), "rack1-node7", "203.0.113.7", true, "Ethernet1/7 of tor-a on eth0"},
		{"second NIC", lldpRule, lldpInventory("", "mgmt0", "Ethernet1/12"), "rack1-node12", "203.0.113.12", true, "on eth1"},
		{"not a number", lldpRule, lldpInventory("", "Ethernet1/x"), "", "", false, ""},
		{"nothing for {n}", lldpRule, lldpInventory("", "Ethernet1/"), "", "", false, ""},
		{"prefix differs", lldpRule, lldpInventory("", "Ethernet2/7"), "", "", false, ""},
		{"sub-port suffix", lldpRule, lldpInventory("", "Ethernet1/7/1"), "", "", false, ""},
		{"no LLDP", lldpRule, agentproto.Inventory{NICs: []agentproto.NIC{{Name: "eth0"}}}, "", "", false, ""},
		{"other switch", AcceptRule{LLDPPort: "Ethernet1/{n}", LLDPSystem: "tor-b", Hostname: "n{n}"}, lldpInventory("", "Ethernet1/7"), "", "", false, ""},
		{"this switch", AcceptRule{LLDPPort: "Ethernet1/{n}", LLDPSystem: "tor-a", Hostname: "n{n}"}, lldpInventory("", "Ethernet1/7"), "n7", "", true, "tor-a"},
		{"exact port", AcceptRule{LLDPPort: "swp3", Hostname: "edge"}, lldpInventory("", "swp3"), "edge", "", true, "swp3"},
		{"serial", AcceptRule{Serial: "PB-0001", Hostname: "db1", IP: "203.0.113.9"}, lldpInventory("PB-0001"), "db1", "203.0.113.9", true, "serial PB-0001"},
		{"serial differs", AcceptRule{Serial: "PB-0001", Hostname: "db1"}, lldpInventory("pb-0001"), "", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.rule.validate(); err != nil {
				t.Fatal(err)
			}
			h, ip, why, ok := tt.rule.match(tt.inv)
			if ok != tt.ok || h != tt.hostname || ip != tt.ip || !strings.Contains(why, tt.whyContains) {
				t.Fatalf("match = %q %q %q %v; want %q %q (%q) %v", h, ip, why, ok, tt.hostname, tt.ip, tt.whyContains, tt.ok)
			}
		})
	}
}

func TestAcceptRuleValidate(t *testing.T) {
	for _, r := range []AcceptRule{
		{Hostname: "x"},
		{LLDPPort: "Eth{n}", Serial: "S", Hostname: "x"},
		{Serial: "S", LLDPSystem: "tor-a", Hostname: "x"},
		{LLDPPort: "Eth{n}"},
		{LLDPPort: "Eth{n}/{n}", Hostname: "n{n}"},
		{Serial: "S", Hostname: "n{n}"},
		{LLDPPort: "swp1", Hostname: "x", IP: "203.0.113.{n}"},
	} {
		if err := validateAcceptRules([]AcceptRule{r}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err %v, want ErrInvalid", r, err)
		}
	}
}

// TestApplyAcceptRules: a matching rule accepts a discovered host (event names the
// rule and what matched); a registered host is never touched; a rule whose hostname is
// taken leaves the host discovered with an event saying why.
func TestApplyAcceptRules(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	p := testPod("pod-r", "192.0.2.9")
	p.Subnets[0].CIDR, p.Subnets[0].Gateway, p.Subnets[0].RangeStart, p.Subnets[0].RangeEnd = "198.51.100.0/24", "198.51.100.1", "198.51.100.100", "198.51.100.200"
	p.UnknownHosts = PolicyDiscover
	p.AcceptRules = []AcceptRule{{LLDPPort: "Ethernet1/{n}", Hostname: "rack1-node{n}"}, {Serial: "PB-0002", Hostname: "rack1-node7"}}
	if _, err := m.CreatePod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	apply := func(mac string, inv agentproto.Inventory) (Host, bool, error) {
		return m.ApplyAcceptRules(ctx, mac, inv)
	}
	const a, b, c = "52:54:00:77:00:01", "52:54:00:77:00:02", "52:54:00:77:00:03"
	for _, mac := range []string{a, b, c} {
		if _, err := m.Discover(ctx, "pod-r", mac, DiscoverInfo{Arch: "bios"}); err != nil {
			t.Fatal(err)
		}
	}
	h, ok, err := apply(a, lldpInventory("PB-0001", "Ethernet1/7"))
	if err != nil || !ok || h.Hostname != "rack1-node7" || h.Discovered || h.State != StateRegistered {
		t.Fatalf("rule by port: %+v %v %v", h, ok, err)
	}
	evs, _ := m.HostEvents(ctx, a)
	last := evs[len(evs)-1]
	if last.Action != "accepted" || last.Actor != "accept-rule" || last.Source != "pod pod-r acceptRules[0]" || !strings.Contains(last.Detail, "Ethernet1/7") {
		t.Fatalf("accept event %+v", last)
	}
	// The same hostname by serial: taken, so b stays discovered and says why.
	h, ok, err = apply(b, lldpInventory("PB-0002"))
	if err == nil || ok || !h.Discovered {
		t.Fatalf("rule with a taken hostname: %+v %v %v", h, ok, err)
	}
	if h, _ := m.Registry().Host(b); !h.Discovered {
		t.Fatalf("host b %+v, want still discovered", h)
	}
	evs, _ = m.HostEvents(ctx, b)
	if last := evs[len(evs)-1]; last.Action != "accept-rule.refused" || !strings.Contains(last.Detail, "acceptRules[1]") {
		t.Fatalf("refusal event %+v", last)
	}
	if _, ok, err := apply(c, lldpInventory("PB-0003", "swp1")); ok || err != nil {
		t.Fatalf("no rule matches: %v %v", ok, err)
	}
	// A registered host is never changed by a rule.
	if h, ok, err := apply(a, lldpInventory("", "Ethernet1/9")); ok || err != nil || h.Hostname != "rack1-node7" {
		t.Fatalf("registered host: %+v %v %v", h, ok, err)
	}
}
