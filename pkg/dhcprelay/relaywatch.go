package dhcprelay

import (
	"container/list"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// DefaultRelayWatch bounds the relays (source, giaddr and server port) whose traffic is
// remembered; the least recently heard is forgotten first.
const DefaultRelayWatch = 4096

// RelaySeen is what the DHCP service saw from one relay: a UDP source and a giaddr,
// sent to one server port. Counts run from First (when the entry was made, or remade
// after it was evicted).
type RelaySeen struct {
	Source     string    `json:"source"`
	SourcePort uint16    `json:"sourcePort"`
	Giaddr     string    `json:"giaddr"`
	ServerPort uint16    `json:"serverPort"`
	WrongPort  bool      `json:"wrongPort,omitempty"` // arrived on a probe port, not answered
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
	Packets    uint64    `json:"packets"`
	// Option82 counts packets that carried option 82; the IDs are the last packet's.
	Option82      uint64 `json:"option82"`
	CircuitID     string `json:"circuitId,omitempty"`
	RemoteID      string `json:"remoteId,omitempty"`
	LinkSelection string `json:"linkSelection,omitempty"`
	// Pod is the pod the last packet resolved to ("" for none).
	Pod string `json:"pod,omitempty"`
	// Outcomes counts packets by outcome (offer, ack, no_pod, wrong_pod, refused, ...).
	Outcomes map[string]uint64 `json:"outcomes"`
}

type relayKey struct {
	src, giaddr netip.Addr
	port        uint16
}

// relayWatch remembers recent relays, bounded (LRU), for `podboot pod check`. One lock
// per packet: the update is a map lookup and a few stores.
type relayWatch struct {
	mu  sync.Mutex
	max int
	m   map[relayKey]*list.Element // of *relayEntry
	lru list.List
}

type relayEntry struct {
	key  relayKey
	seen RelaySeen
}

func newRelayWatch(max int) *relayWatch {
	if max <= 0 {
		max = DefaultRelayWatch
	}
	return &relayWatch{max: max, m: map[relayKey]*list.Element{}}
}

// observe counts one relayed packet.
func (w *relayWatch) observe(now time.Time, peer netip.AddrPort, serverPort uint16, wrongPort bool, k podmgr.MatchKeys, opt82 bool, pod, outcome string) {
	key := relayKey{src: peer.Addr().Unmap(), giaddr: k.Giaddr, port: serverPort}
	w.mu.Lock()
	defer w.mu.Unlock()
	var s *RelaySeen
	if el, ok := w.m[key]; ok {
		w.lru.MoveToFront(el)
		s = &el.Value.(*relayEntry).seen
	} else {
		if w.lru.Len() >= w.max {
			old := w.lru.Back()
			delete(w.m, old.Value.(*relayEntry).key)
			w.lru.Remove(old)
		}
		e := &relayEntry{key: key, seen: RelaySeen{Source: key.src.String(), Giaddr: addrString(k.Giaddr), ServerPort: serverPort,
			WrongPort: wrongPort, First: now, Outcomes: map[string]uint64{}}}
		w.m[key] = w.lru.PushFront(e)
		s = &e.seen
	}
	s.Last, s.SourcePort, s.Pod = now, peer.Port(), pod
	s.Packets++
	s.Outcomes[outcome]++
	if opt82 {
		s.Option82++
		s.CircuitID, s.RemoteID = k.CircuitID, k.RemoteID
	}
	if k.LinkSelection.IsValid() {
		s.LinkSelection = k.LinkSelection.String()
	}
}

// snapshot copies the relays heard since since, most recent first.
func (w *relayWatch) snapshot(since time.Time) []RelaySeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []RelaySeen
	for el := w.lru.Front(); el != nil; el = el.Next() {
		s := &el.Value.(*relayEntry).seen
		if s.Last.Before(since) {
			break // the list is in order of last packet
		}
		c := *s
		c.Outcomes = maps.Clone(s.Outcomes)
		out = append(out, c)
	}
	return out
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
