package pxe

import (
	"net/netip"
	"sync"
	"time"
)

// Exchange is a host's last relayed DHCP exchange as the DHCP service saw it
// (Config.DHCPExchange): the ACK's time, the relay's UDP source address (behind NAT,
// the site's public address) and an ID that is new for every exchange.
type Exchange struct {
	At     time.Time
	Source netip.Addr
	ID     uint64
}

// Why an iPXE script carries no token; the text is the metric and log reason.
const (
	withheldNoDHCP = "no_dhcp" // NAT pod and no DHCP service to bind the token to
	withheldNoExch = "no_dhcp_exchange"
	withheldStale  = "stale_exchange" // NAT pod: the exchange is older than the window
	withheldSource = "source"         // NAT pod: not from the exchange's relay source
	withheldUsed   = "exchange_used"  // this exchange already brought a token
)

// tokenGate decides whether a script GET may carry a fresh provisioning token. Each
// token replaces the host's previous one, so whoever may fetch one can also cancel the
// real host's. A NAT pod has no source address to check, so its tokens are bound to the
// DHCP service instead: one token per relayed exchange, asked for within window of the
// ACK, from the relay's source address. A pod without NAT is gated by the host's address
// already; it too gets at most one token per exchange when the exchange is known.
type tokenGate struct {
	window   time.Duration
	exchange func(pod, mac string) (Exchange, bool)
	now      func() time.Time

	mu   sync.Mutex
	used map[string]uint64 // MAC -> the exchange its last token was issued for
}

func newTokenGate(window time.Duration, exchange func(pod, mac string) (Exchange, bool)) *tokenGate {
	return &tokenGate{window: window, exchange: exchange, now: time.Now, used: map[string]uint64{}}
}

// claim reports whether a token may be issued to src for the host mac of pod and, if
// so, marks the exchange used; give it back with undo when issuing fails. why says why
// not.
func (g *tokenGate) claim(pod, mac string, nat bool, src netip.Addr) (undo func(), why string) {
	if g.exchange == nil {
		if nat {
			return nil, withheldNoDHCP
		}
		return func() {}, ""
	}
	x, ok := g.exchange(pod, mac)
	if nat {
		switch {
		case !ok:
			return nil, withheldNoExch
		case g.now().Sub(x.At) > g.window:
			return nil, withheldStale
		case src.Unmap() != x.Source.Unmap():
			return nil, withheldSource
		}
	} else if !ok {
		return func() {}, "" // the source check is the gate; nothing to bind to
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	prev, had := g.used[mac]
	if had && prev == x.ID {
		return nil, withheldUsed
	}
	g.used[mac] = x.ID
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.used[mac] != x.ID {
			return
		}
		if had {
			g.used[mac] = prev
		} else {
			delete(g.used, mac)
		}
	}, ""
}
