package dhcprelay

import (
	"net/netip"
	"sync"
	"time"
)

// Exchange is a completed relayed DHCP exchange: the ACK sent to MAC in Pod at At,
// for a request whose UDP source was Source (the relay's address as podboot saw it:
// behind NAT, the site's public address; not the spoofable giaddr). ID numbers the
// exchanges of this process, so a consumer can use each one at most once.
type Exchange struct {
	Pod, MAC string
	At       time.Time
	Source   netip.Addr
	ID       uint64
}

// exchanges keeps the last relayed exchange of each MAC, in memory only: the boot
// service binds the provisioning tokens of NAT pods to them. Exchanges older than
// exchangeMaxAge are dropped when the table has doubled since the last sweep, so MACs
// that come and go (a pod that leases to unknown hosts) cannot grow it without bound.
type exchanges struct {
	mu      sync.Mutex
	last    map[string]Exchange // by MAC
	next    uint64
	sweepAt int // sweep when the table reaches this size
}

// exchangeMaxAge is how long an exchange is kept: far longer than any token window.
const exchangeMaxAge = time.Hour

const minExchangeSweep = 4096

func newExchanges() *exchanges {
	return &exchanges{last: map[string]Exchange{}, sweepAt: minExchangeSweep}
}

// record notes an exchange; it runs once per ACK, right before it is sent.
func (e *exchanges) record(pod, mac string, at time.Time, src netip.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	e.last[mac] = Exchange{Pod: pod, MAC: mac, At: at, Source: src, ID: e.next}
	if len(e.last) >= e.sweepAt {
		for k, x := range e.last {
			if at.Sub(x.At) > exchangeMaxAge {
				delete(e.last, k)
			}
		}
		e.sweepAt = max(minExchangeSweep, 2*len(e.last))
	}
}

// lookup is the last exchange of mac in pod.
func (e *exchanges) lookup(pod, mac string) (Exchange, bool) {
	e.mu.Lock()
	x, ok := e.last[mac]
	e.mu.Unlock()
	if !ok || x.Pod != pod {
		return Exchange{}, false
	}
	return x, true
}

// sendCommitted sends a reply whose lease the committer made durable (or, degraded, an
// ACK for the stored lease time only). A relayed lease ACK is recorded as an exchange
// just before it leaves, so a host that fetches its iPXE script right after the ACK
// finds the exchange already there.
func (s *Server) sendCommitted(r result) {
	if (r.outcome == "ack" || r.outcome == "ack_degraded") && r.persist != nil && r.relaySrc.IsValid() {
		s.exch.record(r.pod, r.persist.MAC, s.h.now(), r.relaySrc)
	}
	s.send(r)
}

// LastExchange is the last relayed DHCP exchange completed for mac in pod (ACK sent),
// for the boot service's token binding of NAT pods.
func (s *Server) LastExchange(pod, mac string) (Exchange, bool) {
	return s.exch.lookup(pod, mac)
}
