package podmgr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
)

// AcceptRule registers a discovered host of its pod when the inventory the host
// reported in its inspection boot matches: by the switch port a NIC is cabled to (LLDP)
// or by the DMI serial number. It does what `podboot host accept` does and nothing
// more: a rule never touches a registered host, and the accepted host installs on its
// next boot, not during the inspection that matched.
type AcceptRule struct {
	// LLDPPort matches a NIC's LLDP port ID. "{n}" in it matches a decimal number that
	// the hostname and ip may use: "Ethernet1/{n}" with hostname "rack1-node{n}".
	LLDPPort string `json:"lldpPort,omitempty" yaml:"lldpPort,omitempty"`
	// LLDPSystem, when set, must equal the neighbour's system name (the switch).
	LLDPSystem string `json:"lldpSystem,omitempty" yaml:"lldpSystem,omitempty"`
	// Serial matches the DMI (SMBIOS) system serial number exactly.
	Serial   string `json:"serial,omitempty" yaml:"serial,omitempty"`
	Hostname string `json:"hostname" yaml:"hostname"`
	// IP is the management address (may use {n}); empty: none, as host accept without --ip.
	IP      string `json:"ip,omitempty" yaml:"ip,omitempty"`
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
}

// MaxAcceptRules bounds a pod's rules (each inspection tries them in order).
const MaxAcceptRules = 4096

const ruleNumber = "{n}"

func validateAcceptRules(rules []AcceptRule) error {
	if len(rules) > MaxAcceptRules {
		return invalidf("acceptRules: %d rules, at most %d", len(rules), MaxAcceptRules)
	}
	for i, r := range rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("acceptRules[%d]: %w", i, err)
		}
	}
	return nil
}

func (r AcceptRule) validate() error {
	switch {
	case (r.LLDPPort == "") == (r.Serial == ""):
		return invalidf("give lldpPort or serial (one of them)")
	case r.Serial != "" && r.LLDPSystem != "":
		return invalidf("lldpSystem goes with lldpPort, not serial")
	case r.Hostname == "":
		return invalidf("give the hostname the host is accepted as")
	case strings.Count(r.LLDPPort, ruleNumber) > 1:
		return invalidf("lldpPort %q: at most one %s", r.LLDPPort, ruleNumber)
	case !strings.Contains(r.LLDPPort, ruleNumber) && (strings.Contains(r.Hostname, ruleNumber) || strings.Contains(r.IP, ruleNumber)):
		return invalidf("hostname %q / ip %q use %s, which only an lldpPort with %s gives", r.Hostname, r.IP, ruleNumber, ruleNumber)
	}
	return nil
}

// match returns the hostname and ip the rule gives the host, and what matched.
func (r AcceptRule) match(inv agentproto.Inventory) (hostname, ip, why string, ok bool) {
	if r.Serial != "" {
		if inv.System.Serial != r.Serial {
			return "", "", "", false
		}
		return r.Hostname, r.IP, "serial " + r.Serial, true
	}
	for _, n := range inv.NICs {
		if n.LLDP == nil || (r.LLDPSystem != "" && n.LLDP.SystemName != r.LLDPSystem) {
			continue
		}
		num, ok := matchPort(r.LLDPPort, n.LLDP.PortID)
		if !ok {
			continue
		}
		why := fmt.Sprintf("LLDP port %s of %s on %s", n.LLDP.PortID, orNone(n.LLDP.SystemName), n.Name)
		return strings.ReplaceAll(r.Hostname, ruleNumber, num), strings.ReplaceAll(r.IP, ruleNumber, num), why, true
	}
	return "", "", "", false
}

// matchPort matches a port ID against a pattern with at most one {n} (1 to 9 digits).
func matchPort(pattern, port string) (string, bool) {
	pre, post, found := strings.Cut(pattern, ruleNumber)
	if !found {
		return "", port == pattern
	}
	if !strings.HasPrefix(port, pre) || !strings.HasSuffix(port, post) || len(port) < len(pre)+len(post)+1 {
		return "", false
	}
	num := port[len(pre) : len(port)-len(post)]
	if len(num) > 9 || strings.Trim(num, "0123456789") != "" {
		return "", false
	}
	return num, true
}

func orNone(s string) string {
	if s == "" {
		return "(no system name)"
	}
	return s
}

// ApplyAcceptRules tries the pod's accept rules on a discovered host's inventory and
// accepts it as the first matching rule says. ok is false
// when the host is not discovered or no rule matches. A rule that matches but cannot be
// applied (the hostname or address is taken) leaves the host discovered and records
// why on its timeline.
func (m *Manager) ApplyAcceptRules(ctx context.Context, mac string, inv agentproto.Inventory) (Host, bool, error) {
	h, found := m.reg.Host(mac)
	if !found || !h.Discovered {
		return h, false, nil
	}
	pc, found := m.reg.Pod(h.Pod)
	if !found || len(pc.Pod.AcceptRules) == 0 {
		return h, false, nil
	}
	for i, r := range pc.Pod.AcceptRules {
		hostname, ip, why, ok := r.match(inv)
		if !ok {
			continue
		}
		a := Actor{Name: "accept-rule", Role: RoleOperator, Source: fmt.Sprintf("pod %s acceptRules[%d]", h.Pod, i)}
		got, err := m.acceptHost(ctx, a, mac, hostname, ip, r.Profile, why)
		if err == nil {
			return got, true, nil
		}
		if !errors.Is(err, ErrStoreUnavailable) {
			detail := fmt.Sprintf("acceptRules[%d] matched (%s) but was not applied: %v; the host stays discovered", i, why, err)
			if _, rerr := m.RecordHostEvent(ctx, mac, a.Source, "accept-rule.refused", detail, HostUpdate{}); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return h, false, err
	}
	return h, false, nil
}
