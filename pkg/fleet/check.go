package fleet

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The kinds of finding `pod check` names.
const (
	// FindWrongRelaySource: giaddr (and option 82) fit a rule of the pod, the UDP source
	// does not.
	FindWrongRelaySource = "wrong_relay_source"
	// FindWrongGiaddr: the source fits a rule of the pod, giaddr does not.
	FindWrongGiaddr = "wrong_giaddr"
	// FindGiaddrOutsidePods: giaddr lies in no pod's provisioning subnets.
	FindGiaddrOutsidePods = "giaddr_outside_pods"
	// FindMissingOption82: a rule of the pod needs option 82 sub-options the relay does
	// not send.
	FindMissingOption82 = "missing_option82"
	// FindWrongOption82: the relay sends option 82, with other values than the rule's.
	FindWrongOption82 = "wrong_option82"
	// FindWrongPort: the relay sends to a port podboot does not serve DHCP on.
	FindWrongPort = "wrong_port"
	// FindDropped: the pod's relay's packets are resolved to the pod but not answered.
	FindDropped = "dropped"
	// FindSilent: no packet from any relay of the pod in the window.
	FindSilent = "silent"
)

// Finding is one configuration mistake, or near-miss, with the evidence.
type Finding struct {
	Kind    string `json:"kind"`
	Relay   string `json:"relay,omitempty"`
	Giaddr  string `json:"giaddr,omitempty"`
	Message string `json:"message"`
}

// RelayReport is what one relay sent that resolved to the pod.
type RelayReport struct {
	dhcprelay.RelaySeen
	// Rule is the pod's match rule the packets hit (index into the pod's match list).
	Rule     int    `json:"rule"`
	RuleText string `json:"ruleText"`
	Answered uint64 `json:"answered"`
	Dropped  uint64 `json:"dropped"`
	// DropReasons counts the unanswered packets by outcome (no_pod, wrong_pod,
	// unknown_host, refused, ...).
	DropReasons map[string]uint64 `json:"dropReasons"`
}

// CheckReport is `podboot pod check`.
type CheckReport struct {
	Pod        string        `json:"pod"`
	Minutes    int           `json:"minutes"`
	ServerPort uint16        `json:"serverPort"`
	Relays     []RelayReport `json:"relays"`
	Findings   []Finding     `json:"findings"`
}

// answered are the outcomes that sent a reply (or needed none: release, decline).
var answered = []string{"offer", "ack", "ack_degraded", "nak", "inform", "released", "declined"}

// Check reports the relays heard in the last window that resolved to pod, and the
// near-misses: relays whose packets almost matched one of its rules.
func (s *Service) Check(pod string, window time.Duration) (CheckReport, error) {
	reg := s.mgr.Registry()
	pc, ok := reg.Pod(pod)
	if !ok {
		return CheckReport{}, fmt.Errorf("%w: pod %s", podmgr.ErrNotFound, pod)
	}
	rep := CheckReport{Pod: pod, Minutes: int(window / time.Minute), ServerPort: s.relays.Port, Relays: []RelayReport{}, Findings: []Finding{}}
	if s.relays.Seen == nil {
		rep.Findings = append(rep.Findings, Finding{Kind: FindSilent, Message: "this podboot serves no DHCP (dhcp.addr \"-\"): nothing to check"})
		return rep, nil
	}
	rules := pc.Pod.Match
	for _, r := range s.relays.since(s.now().Add(-window)) {
		if r.Pod == pod && !r.WrongPort {
			rep.Relays = append(rep.Relays, report(r, rules))
			continue
		}
		rep.Findings = append(rep.Findings, nearMisses(r, pc.Pod, s.relays.Port, s.outsideAll)...)
	}
	for _, r := range rep.Relays {
		if r.Dropped > 0 {
			rep.Findings = append(rep.Findings, Finding{Kind: FindDropped, Relay: r.Source, Giaddr: r.Giaddr,
				Message: fmt.Sprintf("%d of %d packets from %s (giaddr %s) were not answered: %s", r.Dropped, r.Packets, r.Source, r.Giaddr, reasons(r.DropReasons))})
		}
	}
	if len(rep.Relays) == 0 {
		rep.Findings = append(rep.Findings, Finding{Kind: FindSilent,
			Message: fmt.Sprintf("no packet resolved to pod %s in the last %d minutes", pod, rep.Minutes)})
	}
	return rep, nil
}

// outsideAll reports whether giaddr lies in no pod's provisioning subnets.
func (s *Service) outsideAll(giaddr netip.Addr) bool {
	reg := s.mgr.Registry()
	for _, n := range reg.PodNames() {
		if pc, ok := reg.Pod(n); ok {
			if _, in := pc.SubnetFor(giaddr); in {
				return false
			}
		}
	}
	return true
}

func report(r dhcprelay.RelaySeen, rules []podmgr.MatchRule) RelayReport {
	rr := RelayReport{RelaySeen: r, Rule: -1, DropReasons: map[string]uint64{}}
	for i, rule := range rules {
		if len(mismatches(rule, r)) == 0 {
			rr.Rule, rr.RuleText = i, ruleText(rule)
			break
		}
	}
	for o, n := range r.Outcomes {
		if slices.Contains(answered, o) {
			rr.Answered += n
		} else {
			rr.Dropped += n
			rr.DropReasons[o] = n
		}
	}
	return rr
}

// nearMisses names why r, which did not reach pod p (or reached it on a wrong port),
// missed it: for each rule of p that r matches in some field, the fields it does not.
func nearMisses(r dhcprelay.RelaySeen, p podmgr.Pod, port uint16, outsideAll func(netip.Addr) bool) []Finding {
	var out []Finding
	if r.WrongPort {
		if r.Pod == p.Name || related(r, p) {
			out = append(out, Finding{Kind: FindWrongPort, Relay: r.Source, Giaddr: r.Giaddr,
				Message: fmt.Sprintf("relay %s (giaddr %s) sends to UDP port %d; podboot serves relayed DHCP on port %d: fix the relay's server port", r.Source, r.Giaddr, r.ServerPort, port)})
		}
		return out
	}
	where := "match no pod"
	if r.Pod != "" {
		where = "go to pod " + r.Pod
	}
	head := fmt.Sprintf("packets from %s with giaddr %s %s", r.Source, r.Giaddr, where)
	for _, rule := range p.Match {
		miss := mismatches(rule, r)
		if len(miss) == 0 || len(miss) == fieldsOf(rule) {
			continue // a full match (another pod's rule won) or nothing in common
		}
		for _, f := range miss {
			out = append(out, missFinding(f, rule, r, p.Name, head))
		}
	}
	// A relay whose packets match no pod and whose giaddr is in no pod's subnets is
	// named in every pod's check: podboot cannot tell which pod it was meant for.
	if g, err := netip.ParseAddr(r.Giaddr); err == nil && r.Pod == "" && outsideAll(g) {
		msg := fmt.Sprintf("%s: giaddr %s is outside every pod's subnets", head, r.Giaddr)
		if related(r, p) {
			msg += fmt.Sprintf("; pod %s expects %s", p.Name, expected(p))
		}
		out = append(out, Finding{Kind: FindGiaddrOutsidePods, Relay: r.Source, Giaddr: r.Giaddr, Message: msg})
	}
	return dedupe(out)
}

func missFinding(field string, rule podmgr.MatchRule, r dhcprelay.RelaySeen, pod, head string) Finding {
	f := Finding{Relay: r.Source, Giaddr: r.Giaddr}
	switch field {
	case "relaySource":
		f.Kind, f.Message = FindWrongRelaySource, fmt.Sprintf("%s; pod %s expects relay source %s", head, pod, rule.RelaySource)
	case "giaddr":
		f.Kind, f.Message = FindWrongGiaddr, fmt.Sprintf("%s; pod %s expects giaddr %s", head, pod, rule.Giaddr)
	default:
		if r.Option82 == 0 && field != "linkSelection" || field == "linkSelection" && r.LinkSelection == "" {
			f.Kind, f.Message = FindMissingOption82, fmt.Sprintf("%s and carry no option 82 %s; pod %s's rule %s needs it (ISC dhcrelay: -a)", head, field, pod, ruleText(rule))
		} else {
			f.Kind, f.Message = FindWrongOption82, fmt.Sprintf("%s; their option 82 %s differs from pod %s's rule %s", head, field, pod, ruleText(rule))
		}
	}
	return f
}

// related: r shares its source or giaddr with one of p's rules or subnets' gateways.
func related(r dhcprelay.RelaySeen, p podmgr.Pod) bool {
	for _, rule := range p.Match {
		if sameAddr(rule.RelaySource, r.Source) || sameAddr(rule.Giaddr, r.Giaddr) || sameAddr(rule.Giaddr, r.Source) {
			return true
		}
	}
	for _, sn := range p.Subnets {
		if sameAddr(sn.Gateway, r.Giaddr) {
			return true
		}
	}
	return false
}

func expected(p podmgr.Pod) string {
	var parts []string
	for _, rule := range p.Match {
		parts = append(parts, ruleText(rule))
	}
	return strings.Join(parts, " or ")
}

// mismatches lists the fields of rule that r's last packet does not match.
func mismatches(rule podmgr.MatchRule, r dhcprelay.RelaySeen) []string {
	var miss []string
	if rule.LinkSelection != "" && !sameAddr(rule.LinkSelection, r.LinkSelection) {
		miss = append(miss, "linkSelection")
	}
	if rule.CircuitID != "" && decodeID(rule.CircuitID) != r.CircuitID {
		miss = append(miss, "circuitId")
	}
	if rule.RemoteID != "" && decodeID(rule.RemoteID) != r.RemoteID {
		miss = append(miss, "remoteId")
	}
	if rule.RelaySource != "" && !sameAddr(rule.RelaySource, r.Source) {
		miss = append(miss, "relaySource")
	}
	if rule.Giaddr != "" && !sameAddr(rule.Giaddr, r.Giaddr) {
		miss = append(miss, "giaddr")
	}
	return miss
}

func fieldsOf(rule podmgr.MatchRule) int {
	n := 0
	for _, f := range []string{rule.LinkSelection, rule.CircuitID, rule.RemoteID, rule.RelaySource, rule.Giaddr} {
		if f != "" {
			n++
		}
	}
	return n
}

func ruleText(rule podmgr.MatchRule) string {
	var parts []string
	for _, kv := range [][2]string{{"giaddr", rule.Giaddr}, {"relaySource", rule.RelaySource}, {"circuitId", rule.CircuitID}, {"remoteId", rule.RemoteID}, {"linkSelection", rule.LinkSelection}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func sameAddr(a, b string) bool {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	return err1 == nil && err2 == nil && x == y
}

// decodeID is podmgr's "hex:0a0b" notation (MatchRule.CircuitID) as raw bytes; the pod
// was validated, so a bad value cannot occur and compares as text.
func decodeID(s string) string {
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		if b, err := hex.DecodeString(h); err == nil {
			return string(b)
		}
	}
	return s
}

func reasons(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func dedupe(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
