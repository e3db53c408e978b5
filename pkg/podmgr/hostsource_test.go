package podmgr

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestHostSource: an address inside a pod's provisioning subnet is a host's unless some
// pod names it as a relay's (gateway, giaddr, relaySource); pods sharing a CIDR keep it
// in the index until the last of them goes, and a changed pod replaces its entries.
func TestHostSource(t *testing.T) {
	r := newRegistry()
	put := func(p Pod) {
		t.Helper()
		pc, err := validatePod(&p)
		if err != nil {
			t.Fatal(err)
		}
		testPutPod(r, pc)
	}
	pod := func(name string, rules []MatchRule, subnets ...Subnet) Pod {
		return Pod{Name: name, Profile: "default", ServerAddress: "198.51.100.10", Match: rules, Subnets: subnets}
	}
	podA := pod("pod-a", []MatchRule{{Giaddr: "192.0.2.1"}}, Subnet{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1"})
	podB := pod("pod-b", []MatchRule{{Giaddr: "192.0.2.254", RelaySource: "198.51.100.3"}}, Subnet{CIDR: "192.0.2.0/24", Gateway: "192.0.2.254"})
	podC := pod("pod-c", []MatchRule{{RelaySource: "203.0.113.77"}},
		Subnet{CIDR: "203.0.113.0/24", Gateway: "203.0.113.1"}, Subnet{CIDR: "198.51.100.128/25"})
	put(podA)
	put(podB)
	put(podC)
	check := func(step string, cases map[string]string) {
		t.Helper()
		for src, want := range cases {
			p, ok := r.HostSource(netip.MustParseAddr(src))
			got := ""
			if ok {
				got = p.String()
			}
			if got != want {
				t.Errorf("%s: HostSource(%s) = %q, want %q", step, src, got, want)
			}
		}
	}
	check("three pods", map[string]string{
		"192.0.2.66":        "192.0.2.0/24",
		"::ffff:192.0.2.66": "192.0.2.0/24",
		"192.0.2.1":         "", // pod-a's gateway and giaddr
		"192.0.2.254":       "", // pod-b's
		"198.51.100.3":      "", // a relay's WAN address, in no subnet
		"198.51.100.10":     "",
		"203.0.113.77":      "", // pod-c's relaySource
		"203.0.113.5":       "203.0.113.0/24",
		"198.51.100.200":    "198.51.100.128/25",
		"2001:db8::1":       "",
		"0.0.0.0":           "",
	})
	testDeletePod(r, "pod-a")
	check("pod-a deleted", map[string]string{
		"192.0.2.66": "192.0.2.0/24", // pod-b shares the CIDR
		"192.0.2.1":  "192.0.2.0/24", // no pod names it any more
	})
	podC.Match = []MatchRule{{Giaddr: "203.0.113.1"}}
	put(podC)
	check("pod-c changed", map[string]string{
		"203.0.113.77":   "203.0.113.0/24",
		"198.51.100.200": "198.51.100.128/25",
	})
	testDeletePod(r, "pod-b")
	testDeletePod(r, "pod-c")
	check("no pods", map[string]string{"192.0.2.66": "", "203.0.113.77": ""})
	if len(r.hostSrc.subnets) != 0 || len(r.hostSrc.relays) != 0 || len(r.hostSrc.inUse) != 0 {
		t.Errorf("index not empty after every pod went: %+v", r.hostSrc)
	}
}

// BenchmarkHostSource: the lookup of a relay's WAN address (in no subnet: every prefix
// length in use is probed) among 1 and 4000 pods with their own /24 and /23 subnets;
// the cost must not grow with the pods.
func BenchmarkHostSource(b *testing.B) {
	for _, pods := range []int{1, 4000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			r := newRegistry()
			for i := range pods {
				net24 := fmt.Sprintf("10.%d.%d", i/128, i%128*2)
				p := Pod{Name: fmt.Sprintf("pod-%d", i), Profile: "default", ServerAddress: "198.51.100.10",
					Match: []MatchRule{{Giaddr: net24 + ".1"}},
					Subnets: []Subnet{{CIDR: net24 + ".0/24", Gateway: net24 + ".1"},
						{CIDR: fmt.Sprintf("172.%d.%d.0/23", 16+i/128, i%128*2)}}}
				pc, err := validatePod(&p)
				if err != nil {
					b.Fatal(err)
				}
				testPutPod(r, pc)
			}
			wan := netip.MustParseAddr("198.51.100.2")
			for b.Loop() {
				if _, ok := r.HostSource(wan); ok {
					b.Fatal("a WAN address taken for a host's")
				}
			}
		})
	}
}

// testPutPod and testDeletePod change the registry as the store's change feed does.
func testPutPod(r *Registry, pc *PodContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.putPodLocked(pc)
}

func testDeletePod(r *Registry, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletePodLocked(name)
}
