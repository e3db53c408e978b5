package podmgr

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// MatchKeys are what a relayed DHCP packet says about where it came from.
// Zero fields are absent.
type MatchKeys struct {
	LinkSelection netip.Addr // option 82 sub-option 5, or option 118
	CircuitID     string     // option 82 sub-option 1, raw bytes
	RemoteID      string     // option 82 sub-option 2, raw bytes
	RelaySource   netip.Addr // source address of the relayed packet
	Giaddr        netip.Addr
}

// Field bits, most specific first: a higher mask value is a more specific rule.
const (
	bitGiaddr uint8 = 1 << iota
	bitRelaySource
	bitRemoteID
	bitCircuitID
	bitLinkSelection
)

// ruleKey is the comparable form of a MatchRule; mask says which fields are set.
type ruleKey struct {
	mask        uint8
	link        netip.Addr
	circuit     string
	remote      string
	relaySource netip.Addr
	giaddr      netip.Addr
}

func (k MatchKeys) mask() uint8 {
	var m uint8
	if k.Giaddr.IsValid() && !k.Giaddr.IsUnspecified() {
		m |= bitGiaddr
	}
	if k.RelaySource.IsValid() && !k.RelaySource.IsUnspecified() {
		m |= bitRelaySource
	}
	if k.RemoteID != "" {
		m |= bitRemoteID
	}
	if k.CircuitID != "" {
		m |= bitCircuitID
	}
	if k.LinkSelection.IsValid() && !k.LinkSelection.IsUnspecified() {
		m |= bitLinkSelection
	}
	return m
}

// keyFor projects the packet's keys onto the fields of mask.
func (k MatchKeys) keyFor(mask uint8) ruleKey {
	rk := ruleKey{mask: mask}
	if mask&bitGiaddr != 0 {
		rk.giaddr = k.Giaddr
	}
	if mask&bitRelaySource != 0 {
		rk.relaySource = k.RelaySource
	}
	if mask&bitRemoteID != 0 {
		rk.remote = k.RemoteID
	}
	if mask&bitCircuitID != 0 {
		rk.circuit = k.CircuitID
	}
	if mask&bitLinkSelection != 0 {
		rk.link = k.LinkSelection
	}
	return rk
}

// parseRule validates a rule and returns its comparable key.
func parseRule(r MatchRule) (ruleKey, error) {
	var k MatchKeys
	var err error
	if r.Giaddr != "" {
		if k.Giaddr, err = parseIPv4("giaddr", r.Giaddr); err != nil {
			return ruleKey{}, err
		}
	}
	if r.RelaySource != "" {
		if k.RelaySource, err = parseIPv4("relaySource", r.RelaySource); err != nil {
			return ruleKey{}, err
		}
	}
	if r.LinkSelection != "" {
		if k.LinkSelection, err = parseIPv4("linkSelection", r.LinkSelection); err != nil {
			return ruleKey{}, err
		}
	}
	if k.CircuitID, err = decodeID("circuitId", r.CircuitID); err != nil {
		return ruleKey{}, err
	}
	if k.RemoteID, err = decodeID("remoteId", r.RemoteID); err != nil {
		return ruleKey{}, err
	}
	m := k.mask()
	if m == 0 {
		return ruleKey{}, invalidf("match rule is empty: set at least one of giaddr, relaySource, circuitId, remoteId, linkSelection")
	}
	return k.keyFor(m), nil
}

// decodeID turns "hex:0a0b" into raw bytes; anything else is taken as text.
func decodeID(field, s string) (string, error) {
	if !strings.HasPrefix(s, "hex:") {
		return s, nil
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "hex:"))
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%s %q: after \"hex:\" write an even number of hex digits", field, s)
	}
	return string(b), nil
}

func (k ruleKey) String() string {
	var parts []string
	if k.mask&bitLinkSelection != 0 {
		parts = append(parts, "linkSelection="+k.link.String())
	}
	if k.mask&bitCircuitID != 0 {
		parts = append(parts, fmt.Sprintf("circuitId=%q", k.circuit))
	}
	if k.mask&bitRemoteID != 0 {
		parts = append(parts, fmt.Sprintf("remoteId=%q", k.remote))
	}
	if k.mask&bitRelaySource != 0 {
		parts = append(parts, "relaySource="+k.relaySource.String())
	}
	if k.mask&bitGiaddr != 0 {
		parts = append(parts, "giaddr="+k.giaddr.String())
	}
	return strings.Join(parts, " ")
}

// matchIndex finds the pod of a packet: the most specific rule that matches wins.
type matchIndex struct {
	rules map[ruleKey]string
	// masks are the field combinations some rule uses, most specific first.
	masks []uint8
}

func newMatchIndex() *matchIndex { return &matchIndex{rules: map[ruleKey]string{}} }

func (ix *matchIndex) add(k ruleKey, pod string) {
	ix.rules[k] = pod
	for _, m := range ix.masks {
		if m == k.mask {
			return
		}
	}
	ix.masks = append(ix.masks, k.mask)
	sort.Slice(ix.masks, func(i, j int) bool { return ix.masks[i] > ix.masks[j] })
}

func (ix *matchIndex) remove(k ruleKey) {
	delete(ix.rules, k)
	for rk := range ix.rules {
		if rk.mask == k.mask {
			return
		}
	}
	for i, m := range ix.masks {
		if m == k.mask {
			ix.masks = append(ix.masks[:i:i], ix.masks[i+1:]...)
			return
		}
	}
}

func (ix *matchIndex) lookup(k MatchKeys) (string, bool) {
	have := k.mask()
	for _, m := range ix.masks {
		if m&have != m {
			continue
		}
		if pod, ok := ix.rules[k.keyFor(m)]; ok {
			return pod, true
		}
	}
	return "", false
}
