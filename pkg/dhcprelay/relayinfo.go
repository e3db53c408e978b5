package dhcprelay

import (
	"errors"
	"net/netip"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Option 82 sub-options podboot acts on.
const (
	subCircuitID      = 1  // RFC 3046
	subRemoteID       = 2  // RFC 3046
	subLinkSelection  = 5  // RFC 3527
	subServerOverride = 11 // RFC 5107
	subSourcePort     = 19 // RFC 8357
)

// relayInfo is the relay agent information (option 82) of a request. The raw bytes stay
// in the packet's option map and are echoed unchanged.
type relayInfo struct {
	present        bool
	circuitID      string
	remoteID       string
	linkSelection  netip.Addr
	serverOverride netip.Addr
	sourcePort     bool
}

// parseRelayInfo reads option 82's sub-options; the first instance of each counts.
func parseRelayInfo(b []byte) (relayInfo, error) {
	ri := relayInfo{present: true}
	seen := map[byte]bool{}
	for len(b) > 0 {
		if len(b) < 2 || int(b[1]) > len(b)-2 {
			return relayInfo{}, errors.New("option 82: truncated sub-option")
		}
		code, val := b[0], b[2:2+int(b[1])]
		b = b[2+int(b[1]):]
		if seen[code] {
			continue
		}
		seen[code] = true
		switch code {
		case subCircuitID:
			ri.circuitID = string(val)
		case subRemoteID:
			ri.remoteID = string(val)
		case subLinkSelection:
			if len(val) == 4 {
				ri.linkSelection = netip.AddrFrom4([4]byte(val))
			}
		case subServerOverride:
			if len(val) == 4 {
				ri.serverOverride = netip.AddrFrom4([4]byte(val))
			}
		case subSourcePort:
			ri.sourcePort = true
		}
	}
	return ri, nil
}

// linkAddr is the address that names the client's link: option 82 link selection,
// option 118, or giaddr (RFC 3527 section 2).
func (r *request) linkAddr() netip.Addr {
	switch {
	case r.relay.linkSelection.IsValid() && !r.relay.linkSelection.IsUnspecified():
		return r.relay.linkSelection
	case r.subnetSel.IsValid():
		return r.subnetSel
	}
	return r.giaddr
}

// matchKeys are what the registry resolves the pod by.
func (r *request) matchKeys() podmgr.MatchKeys {
	k := podmgr.MatchKeys{
		CircuitID:   r.relay.circuitID,
		RemoteID:    r.relay.remoteID,
		RelaySource: r.peer.Addr().Unmap(),
		Giaddr:      r.giaddr,
	}
	switch {
	case r.relay.linkSelection.IsValid() && !r.relay.linkSelection.IsUnspecified():
		k.LinkSelection = r.relay.linkSelection
	case r.subnetSel.IsValid():
		k.LinkSelection = r.subnetSel
	}
	return k
}
