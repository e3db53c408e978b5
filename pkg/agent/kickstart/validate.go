package kickstart

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"regexp"
)

var (
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	userRE     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

func validHostname(s string) error {
	if len(s) > 253 || !hostnameRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid host name", s)
	}
	return nil
}

func validUser(s string) error {
	if !userRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid user name", s)
	}
	return nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

func maskPrefix(s string) (int, error) {
	a, err := parseIPv4(s)
	if err != nil {
		return 0, err
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^v)
	if v<<ones != 0 || ones == 0 {
		return 0, errors.New("netmask " + s + " is not contiguous")
	}
	return ones, nil
}
