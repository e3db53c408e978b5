package ipmi

import (
	"errors"
	"net/netip"
	"testing"
)

// The responses are what a BMC sends for Get LAN Configuration Parameters (IPMI v2.0
// 23.2): completion code, parameter revision 0x11, value.
func TestSetLANParam(t *testing.T) {
	var l LAN
	for _, r := range []struct {
		param byte
		resp  []byte
	}{
		{paramIPAddress, []byte{0, 0x11, 192, 0, 2, 10}},
		{paramIPSource, []byte{0, 0x11, 0x01}},
		{paramMACAddress, []byte{0, 0x11, 0x52, 0x54, 0, 0xbb, 0, 1}},
		{paramSubnetMask, []byte{0, 0x11, 255, 255, 255, 0}},
		{paramGatewayAddr, []byte{0, 0x11, 192, 0, 2, 1}},
	} {
		if err := l.SetLANParam(r.param, r.resp); err != nil {
			t.Fatalf("param %d: %v", r.param, err)
		}
	}
	want := LAN{Address: netip.MustParseAddr("192.0.2.10"), Netmask: netip.MustParseAddr("255.255.255.0"), Gateway: netip.MustParseAddr("192.0.2.1"), MAC: "52:54:00:bb:00:01", Source: "static"}
	if l != want || !l.Configured() {
		t.Fatalf("LAN %+v, want %+v", l, want)
	}
	for _, tt := range []struct {
		name  string
		param byte
		resp  []byte
		want  error
	}{
		{"invalid channel", paramIPAddress, []byte{0xcc}, ErrCompletion},
		{"no such command", paramIPAddress, []byte{0xc1}, ErrCompletion},
		{"short address", paramIPAddress, []byte{0, 0x11, 192, 0}, nil},
		{"short MAC", paramMACAddress, []byte{0, 0x11, 1, 2, 3}, nil},
		{"empty", paramIPAddress, nil, nil},
	} {
		err := (&LAN{}).SetLANParam(tt.param, tt.resp)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: err %v", tt.name, err)
		}
	}
	if (LAN{Address: netip.MustParseAddr("0.0.0.0")}).Configured() {
		t.Error("0.0.0.0 counts as configured")
	}
	if got := LANRequest(0x11, paramIPAddress); string(got) != string([]byte{1, 3, 0, 0}) {
		t.Errorf("LANRequest = %x", got)
	}
}

func FuzzSetLANParam(f *testing.F) {
	f.Add(byte(paramIPAddress), []byte{0, 0x11, 192, 0, 2, 10})
	f.Add(byte(paramMACAddress), []byte{0, 0x11, 0x52, 0x54, 0, 0xbb, 0, 1})
	f.Add(byte(paramIPSource), []byte{0, 0x11, 0x02})
	f.Fuzz(func(t *testing.T, param byte, resp []byte) {
		var l LAN
		if err := l.SetLANParam(param, resp); err == nil && len(resp) < 2 {
			t.Fatalf("accepted %x", resp)
		}
	})
}
