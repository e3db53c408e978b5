package dhcprelay

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Reasons a request is refused (the reason label of podboot_dhcp_refused_total).
const (
	// A non-relayed packet whose IP source is not its ciaddr.
	refuseSource = "source_not_ciaddr"
	// A non-relayed packet whose ciaddr is not the MAC's current lease.
	refuseNotLeased = "not_leased"
	// A non-relayed REQUEST that would move the host to another address.
	refuseMoves = "moves_host"
	// A DECLINE or RELEASE of an address other than the MAC's own.
	refuseNotOwn = "not_own_address"
	// A reservation on a subnet's network, broadcast or gateway address, or the relay's.
	refuseUnusable = "unusable_address"
	// A relayed packet (giaddr set) whose UDP source is a host's address: inside a pod's
	// provisioning subnet, and not a gateway, giaddr or relaySource of any pod.
	refuseHostRelay = "relayed_by_host"
)

// refusalWarnEvery is the least time between two refusals logged at Warn.
const refusalWarnEvery = time.Second

// refusalLog writes refusals at Warn at most once per interval and the rest at Debug,
// so that a flood of forged packets cannot fill the log; the Warn record says how many
// were only logged at Debug since the last one. Lock-free: it is on the packet path.
type refusalLog struct {
	next       atomic.Int64 // unix nanoseconds from which the next Warn may be written
	suppressed atomic.Int64
}

// level is the level of a refusal at now, and how many refusals went to Debug before it.
func (l *refusalLog) level(now time.Time) (slog.Level, int64) {
	n := l.next.Load()
	if now.UnixNano() < n || !l.next.CompareAndSwap(n, now.Add(refusalWarnEvery).UnixNano()) {
		l.suppressed.Add(1)
		return slog.LevelDebug, 0
	}
	return slog.LevelWarn, l.suppressed.Swap(0)
}
