package dhcprelay

import (
	"encoding/binary"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// When the store is unreachable no new lease can be made durable, and no ACK leaves for
// one. A renewal of a lease the store already holds is still answered, for the time the
// store holds it and no longer: a host whose lease runs out during an outage keeps its
// address until then, and nothing is promised that a restart would not find.

// degrade turns r, an ACK whose lease commit failed, into an ACK for the durable part of
// the lease: its lease time (option 51, T1 and T2 scaled) becomes what remains of the
// lease the store holds for the MAC at that address. False when there is none (a new
// lease, a move, a lease run out): then nothing is sent.
func degrade(r *result, now time.Time) bool {
	if r.outcome != "ack" || r.reply == nil || r.persist == nil || r.persist.Declined {
		return false
	}
	left := r.prior.durable.Sub(now) / time.Second * time.Second // whole seconds, rounded down
	if left < minLeaseSeconds*time.Second {
		return false
	}
	if !setLeaseTime(r.reply, left) {
		return false
	}
	r.outcome = "ack_degraded"
	return true
}

// setLeaseTime rewrites, in an encoded reply, the lease time to d and T1 and T2 to 1/2
// and 7/8 of it, as buildReply sets them. False when the reply has no lease time.
func setLeaseTime(b []byte, d time.Duration) bool {
	const optStart = 240 // fixed header and magic cookie
	found := false
	for i := optStart; i < len(b); {
		code := b[i]
		if code == dhcpv4.OptionPad.Code() {
			i++
			continue
		}
		if code == dhcpv4.OptionEnd.Code() || i+1 >= len(b) {
			break
		}
		n := int(b[i+1])
		v := b[i+2 : min(i+2+n, len(b))]
		if n == 4 && len(v) == 4 {
			switch code {
			case dhcpv4.OptionIPAddressLeaseTime.Code():
				binary.BigEndian.PutUint32(v, uint32(d/time.Second))
				found = true
			case dhcpv4.OptionRenewTimeValue.Code():
				binary.BigEndian.PutUint32(v, uint32(d/2/time.Second))
			case dhcpv4.OptionRebindingTimeValue.Code():
				binary.BigEndian.PutUint32(v, uint32((d-d/8)/time.Second))
			}
		}
		i += 2 + n
	}
	return found
}
