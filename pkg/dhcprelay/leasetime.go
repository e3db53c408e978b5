package dhcprelay

import (
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Lease times a client is given. Option 51 is 32 bits of seconds and 0xffffffff means
// "infinite", so the longest finite lease is 2^32-2 s; anything shorter than a second
// would be born expired.
const (
	minLeaseSeconds = 1
	maxLeaseSeconds = 1<<32 - 2
)

// leaseDuration is the subnet's lease time clamped to what option 51 can say. The API
// refuses values outside the range; the clamp keeps a stored pod with a bad value from
// overflowing time.Duration (leases born expired, one address given twice) or sending
// a lease time that wraps to 0.
func leaseDuration(s podmgr.SubnetInfo) time.Duration {
	secs := min(max(s.LeaseSecondsOrDefault(), minLeaseSeconds), maxLeaseSeconds)
	return time.Duration(secs) * time.Second
}
