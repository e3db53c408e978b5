package pxe

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestTokenGate: a NAT pod's token needs a fresh exchange, from its relay source, once;
// a pod without NAT gets one per known exchange, and a token when none is known.
func TestTokenGate(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	relay := netip.MustParseAddr("203.0.113.7")
	outsider := netip.MustParseAddr("198.51.100.66")
	fresh := Exchange{At: now.Add(-10 * time.Second), Source: relay, ID: 7}
	old := Exchange{At: now.Add(-4 * time.Minute), Source: relay, ID: 7}
	for _, tc := range []struct {
		name     string
		nat      bool
		noDHCP   bool
		x        *Exchange
		src      netip.Addr
		want     []string // why of consecutive claims ("" = token)
		undoFrom int      // claims from this index undo (issue failed); -1 none
	}{
		{"nat fresh from relay: once", true, false, &fresh, relay, []string{"", withheldUsed}, -1},
		{"nat from an outsider", true, false, &fresh, outsider, []string{withheldSource, withheldSource}, -1},
		{"nat stale exchange", true, false, &old, relay, []string{withheldStale}, -1},
		{"nat no exchange", true, false, nil, relay, []string{withheldNoExch}, -1},
		{"nat without a DHCP service", true, true, nil, relay, []string{withheldNoDHCP}, -1},
		{"nat issue failed: the exchange is given back", true, false, &fresh, relay, []string{"", ""}, 0},
		{"plain pod, exchange known: once", false, false, &old, outsider, []string{"", withheldUsed}, -1},
		{"plain pod, no exchange known", false, false, nil, outsider, []string{"", ""}, -1},
		{"plain pod without a DHCP service", false, true, nil, outsider, []string{"", ""}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(pod, mac string) (Exchange, bool) {
				if tc.x == nil || pod != "p" {
					return Exchange{}, false
				}
				return *tc.x, true
			}
			if tc.noDHCP {
				lookup = nil
			}
			g := newTokenGate(3*time.Minute, lookup)
			g.now = func() time.Time { return now }
			for i, want := range tc.want {
				undo, why := g.claim("p", "52:54:00:00:00:01", tc.nat, tc.src)
				if why != want {
					t.Fatalf("claim %d: withheld %q, want %q", i, why, want)
				}
				if why == "" && tc.undoFrom >= 0 && i >= tc.undoFrom {
					undo()
				}
			}
		})
	}
}

// TestTokenGateNewExchange: a new exchange brings a new token.
func TestTokenGateNewExchange(t *testing.T) {
	relay := netip.MustParseAddr("203.0.113.7")
	x := Exchange{At: time.Now(), Source: relay, ID: 1}
	g := newTokenGate(time.Minute, func(string, string) (Exchange, bool) { return x, true })
	if _, why := g.claim("p", "m", true, relay); why != "" {
		t.Fatal(why)
	}
	if _, why := g.claim("p", "m", true, relay); why != withheldUsed {
		t.Fatalf("second claim: %q", why)
	}
	x.ID, x.At = 2, time.Now()
	if _, why := g.claim("p", "m", true, relay); why != "" {
		t.Fatalf("after a new exchange: %q", why)
	}
}

// TestScriptTokenOncePerExchange: with the DHCP service's exchanges wired, repeated
// script GETs from the host's own address no longer replace its token each time; a
// new exchange brings a new one.
func TestScriptTokenOncePerExchange(t *testing.T) {
	need(t, "curl")
	var issued atomic.Int32
	x := Exchange{At: time.Now(), Source: netip.MustParseAddr("127.0.0.2"), ID: 1}
	var mu sync.Mutex
	f := newFixture(t, func(c *Config) {
		c.HostToken = func(ctx context.Context, h podmgr.Host, step podmgr.HostStep) (string, error) {
			issued.Add(1)
			return "tok", nil
		}
		c.DHCPExchange = func(pod, mac string) (Exchange, bool) {
			mu.Lock()
			defer mu.Unlock()
			return x, pod == "pod-a" && mac == macA
		}
	})
	url := "http://" + f.svc.HTTPAddr().String() + podmgr.ScriptPath("pod-a", macA)
	for i, want := range []int32{1, 1, 1} {
		r := curl(t, url)
		if r.code != "200" || issued.Load() != want || strings.Contains(string(r.body), "podboot.token=tok") != (i == 0) {
			t.Fatalf("GET %d: code %s, %d tokens issued, body:\n%s", i, r.code, issued.Load(), r.body)
		}
	}
	mu.Lock()
	x.ID++
	mu.Unlock()
	if r := curl(t, url); issued.Load() != 2 || !strings.Contains(string(r.body), "podboot.token=tok") {
		t.Fatalf("after a new exchange: %d tokens issued", issued.Load())
	}
	if n := f.counter(t, "podboot_http_script_token_withheld_total", map[string]string{"pod": "pod-a", "reason": "exchange_used"}); n != 2 {
		t.Errorf("withheld exchange_used = %v, want 2", n)
	}
}
