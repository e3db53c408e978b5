package dhcprelay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestLeaseDurationClamped: whatever a stored pod says, a lease is at least a second
// and at most 2^32-2 s, and time.Duration never overflows.
func TestLeaseDurationClamped(t *testing.T) {
	for _, tc := range []struct {
		secs int
		want time.Duration
	}{
		{0, podmgr.DefaultLeaseSeconds * time.Second},
		{-5, podmgr.DefaultLeaseSeconds * time.Second},
		{1, time.Second},
		{600, 600 * time.Second},
		{1<<32 - 2, (1<<32 - 2) * time.Second},
		{1<<32 - 1, (1<<32 - 2) * time.Second},
		{1 << 32, (1<<32 - 2) * time.Second},
		{9300000000, (1<<32 - 2) * time.Second},
		{1 << 62, (1<<32 - 2) * time.Second},
	} {
		got := leaseDuration(podmgr.SubnetInfo{Subnet: podmgr.Subnet{LeaseSeconds: tc.secs}})
		if got != tc.want {
			t.Errorf("leaseSeconds %d: %v, want %v", tc.secs, got, tc.want)
		}
	}
}

// TestLongestLeaseEncoded: the longest lease is sent as such (option 51 never 0 nor
// "infinite"), T1 < T2 < lease, and the lease is not born expired.
func TestLongestLeaseEncoded(t *testing.T) {
	e := newTestEnv(t)
	p := stdPod("pod-a", relayA, podmgr.PolicyLease)
	p.Subnets[0].LeaseSeconds = 1<<32 - 2
	e.pod(p)
	h := e.handler(Config{})
	ack := dora(t, e, h, macOther, peerOf(relayA, 67))
	u32opt := func(code dhcpv4.OptionCode) uint32 {
		v := ack.Options.Get(code)
		if len(v) != 4 {
			t.Fatalf("option %v: %x", code, v)
		}
		return binary.BigEndian.Uint32(v)
	}
	lease, t1, t2 := u32opt(dhcpv4.OptionIPAddressLeaseTime), u32opt(dhcpv4.OptionRenewTimeValue), u32opt(dhcpv4.OptionRebindingTimeValue)
	// T1 = lease/2, T2 = lease*7/8 (rounded down), computed without overflow.
	if lease != 1<<32-2 || t1 != (1<<32-2)/2 || t2 != 3758096382 {
		t.Fatalf("lease %d, T1 %d, T2 %d", lease, t1, t2)
	}
	if _, ok := h.leases.lookup("pod-a", macOther, e.clock.Now().Add(100*365*24*time.Hour)); !ok {
		t.Fatal("the lease does not run for a century")
	}
}

// TestMaxMessageSizeDropsHeaderDuplicates: with a 576-byte limit and a 222-byte option
// 82 to echo, a PXE reply fits once options 67 and 66 (which the file and siaddr fields
// carry) are dropped; the client still learns its boot file and server.
func TestMaxMessageSizeDropsHeaderDuplicates(t *testing.T) {
	e := twoPods(t, podmgr.PolicyIgnore)
	h := e.handler(Config{})
	opts := []pktOpt{withArch(iana.INTEL_X86PC), withOpt(57, []byte{576 >> 8, 576 & 0xff}),
		withOpt(82, append([]byte{1, 220}, bytes.Repeat([]byte("c"), 220)...))}
	res, rep := do(t, h, newPkt(t, dhcpv4.MessageTypeDiscover, macBIOS, opts...), peerOf(relayA, 67))
	if rep == nil {
		t.Fatalf("no reply: %s", res.outcome)
	}
	if len(res.reply)+28 > 576 {
		t.Fatalf("reply of %d bytes (+28) exceeds 576", len(res.reply))
	}
	if want := "pod-a/52-54-00-00-00-01/undionly.kpxe"; rep.BootFileName != want || rep.ServerIPAddr.String() != serverAddr {
		t.Fatalf("file %q siaddr %s", rep.BootFileName, rep.ServerIPAddr)
	}
	if len(rep.Options.Get(dhcpv4.OptionRelayAgentInformation)) != 222 {
		t.Fatal("option 82 not echoed whole")
	}
}
