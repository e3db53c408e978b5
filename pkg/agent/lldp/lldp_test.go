package lldp

import (
	"errors"
	"testing"
)

func tlv(typ int, v ...byte) []byte {
	return append([]byte{byte(typ<<1) | byte(len(v)>>8), byte(len(v))}, v...)
}

func frame(tlvs ...[]byte) []byte {
	var b []byte
	for _, t := range tlvs {
		b = append(b, t...)
	}
	return b
}

func str(sub byte, s string) []byte { return append([]byte{sub}, s...) }

func TestParse(t *testing.T) {
	ttl := tlv(tlvTTL, 0, 120)
	macChassis := tlv(tlvChassis, 4, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55)
	tests := []struct {
		name string
		in   []byte
		want Neighbour
		err  bool
	}{
		{"lldpd ifname port", frame(macChassis, tlv(tlvPort, str(5, "Ethernet1/7")...), ttl, tlv(tlvPortDesc, []byte("to rack1-node7")...), tlv(tlvSysName, []byte("tor-a")...), tlv(tlvEnd)),
			Neighbour{ChassisID: "02:11:22:33:44:55", PortID: "Ethernet1/7", PortDescription: "to rack1-node7", SystemName: "tor-a"}, false},
		{"local chassis, mac port, no end TLV", frame(tlv(tlvChassis, str(7, "SW-0042")...), tlv(tlvPort, 3, 0x52, 0x54, 0, 1, 2, 3), ttl),
			Neighbour{ChassisID: "SW-0042", PortID: "52:54:00:01:02:03"}, false},
		{"address chassis", frame(tlv(tlvChassis, 5, 1, 192, 0, 2, 1), tlv(tlvPort, str(7, "17")...), ttl, tlv(tlvEnd)),
			Neighbour{ChassisID: "192.0.2.1", PortID: "17"}, false},
		{"control characters cleaned", frame(macChassis, tlv(tlvPort, str(5, "Eth1\n/2")...), ttl, tlv(tlvSysName, []byte("a\x00b")...)),
			Neighbour{ChassisID: "02:11:22:33:44:55", PortID: "Eth1?/2", SystemName: "a?b"}, false},
		{"TLVs after End ignored", frame(macChassis, tlv(tlvPort, str(5, "p1")...), ttl, tlv(tlvEnd), []byte{0xff}),
			Neighbour{ChassisID: "02:11:22:33:44:55", PortID: "p1"}, false},
		{"port before chassis", frame(tlv(tlvPort, str(5, "p1")...), macChassis, ttl), Neighbour{}, true},
		{"no TTL", frame(macChassis, tlv(tlvPort, str(5, "p1")...), tlv(tlvEnd)), Neighbour{}, true},
		{"truncated TLV", append(frame(macChassis, tlv(tlvPort, str(5, "p1")...), ttl), 8, 40, 'x'), Neighbour{}, true},
		{"odd trailing byte", append(frame(macChassis, tlv(tlvPort, str(5, "p1")...), ttl), 1), Neighbour{}, true},
		{"empty port ID", frame(macChassis, tlv(tlvPort, 5), ttl), Neighbour{}, true},
		{"empty", nil, Neighbour{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(frame(tlv(tlvChassis, 4, 2, 0x11, 0x22, 0x33, 0x44, 0x55), tlv(tlvPort, str(5, "Ethernet1/7")...), tlv(tlvTTL, 0, 120), tlv(tlvSysName, []byte("tor")...), tlv(tlvEnd)))
	f.Add(frame(tlv(tlvChassis, 5, 2, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), tlv(tlvPort, 4, 1, 1, 2, 3), tlv(tlvTTL, 0, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Parse(b)
		if err == nil && n.PortID == "" {
			t.Fatalf("accepted %x without a port ID", b)
		}
		for _, s := range []string{n.ChassisID, n.PortID, n.PortDescription, n.SystemName} {
			for _, r := range s {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character in %q", s)
				}
			}
		}
	})
}
