package fleet

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
)

func TestNearMisses(t *testing.T) {
	podA := podmgr.Pod{Name: "pod-a",
		Match:   []podmgr.MatchRule{{Giaddr: "192.0.2.1", RelaySource: "198.51.100.2"}},
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}}}
	podOpt82 := podmgr.Pod{Name: "pod-c",
		Match:   []podmgr.MatchRule{{Giaddr: "192.0.2.1", CircuitID: "hex:7261636b2d63"}},
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"}}}
	inPods := func(a netip.Addr) bool { return !netip.MustParsePrefix("192.0.2.0/24").Contains(a) }
	cases := []struct {
		name string
		pod  podmgr.Pod
		seen dhcprelay.RelaySeen
		kind []string
		msg  string
	}{
		{"wrong relay source", podA, dhcprelay.RelaySeen{Source: "198.51.100.7", Giaddr: "192.0.2.1"},
			[]string{FindWrongRelaySource}, "packets from 198.51.100.7 with giaddr 192.0.2.1 match no pod; pod pod-a expects relay source 198.51.100.2"},
		{"giaddr outside every pod", podA, dhcprelay.RelaySeen{Source: "198.51.100.2", Giaddr: "203.0.113.9"},
			[]string{FindWrongGiaddr, FindGiaddrOutsidePods}, "giaddr 203.0.113.9 is outside every pod's subnets; pod pod-a expects {giaddr=192.0.2.1 relaySource=198.51.100.2}"},
		{"unrelated relay outside every pod", podA, dhcprelay.RelaySeen{Source: "203.0.113.50", Giaddr: "203.0.113.9"},
			[]string{FindGiaddrOutsidePods}, "packets from 203.0.113.50 with giaddr 203.0.113.9 match no pod: giaddr 203.0.113.9 is outside every pod's subnets"},
		{"missing option 82", podOpt82, dhcprelay.RelaySeen{Source: "198.51.100.3", Giaddr: "192.0.2.1"},
			[]string{FindMissingOption82}, "carry no option 82 circuitId; pod pod-c's rule {giaddr=192.0.2.1 circuitId=hex:7261636b2d63} needs it"},
		{"other circuit id", podOpt82, dhcprelay.RelaySeen{Source: "198.51.100.3", Giaddr: "192.0.2.1", Option82: 3, CircuitID: "rack-x"},
			[]string{FindWrongOption82}, "option 82 circuitId differs"},
		{"right circuit id goes elsewhere: not a near miss", podOpt82, dhcprelay.RelaySeen{Source: "198.51.100.3", Giaddr: "192.0.2.1", Option82: 3, CircuitID: "rack-c", Pod: "pod-z"},
			nil, ""},
		{"wrong port", podA, dhcprelay.RelaySeen{Source: "198.51.100.2", Giaddr: "192.0.2.1", ServerPort: 6767, WrongPort: true, Pod: "pod-a"},
			[]string{FindWrongPort}, "relay 198.51.100.2 (giaddr 192.0.2.1) sends to UDP port 6767; podboot serves relayed DHCP on port 67"},
		{"another pod's relay", podA, dhcprelay.RelaySeen{Source: "198.51.100.9", Giaddr: "203.0.113.1", Pod: "pod-b"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := nearMisses(c.seen, c.pod, 67, inPods)
			var kinds []string
			for _, f := range fs {
				kinds = append(kinds, f.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(c.kind, ",") {
				t.Fatalf("kinds %v, want %v: %+v", kinds, c.kind, fs)
			}
			if c.msg != "" && !strings.Contains(fs[len(fs)-1].Message, c.msg) {
				t.Errorf("message %q\nwant it to contain %q", fs[len(fs)-1].Message, c.msg)
			}
		})
	}
}

func TestReportRuleAndDrops(t *testing.T) {
	rules := []podmgr.MatchRule{{Giaddr: "203.0.113.1"}, {Giaddr: "192.0.2.1", CircuitID: "rack-b"}}
	r := report(dhcprelay.RelaySeen{Source: "198.51.100.2", Giaddr: "192.0.2.1", CircuitID: "rack-b", Option82: 4,
		Outcomes: map[string]uint64{"offer": 2, "ack": 1, "unknown_host": 3, "wrong_pod": 1}}, rules)
	if r.Rule != 1 || r.Answered != 3 || r.Dropped != 4 || r.DropReasons["unknown_host"] != 3 || r.DropReasons["wrong_pod"] != 1 {
		t.Errorf("report: %+v", r)
	}
}
