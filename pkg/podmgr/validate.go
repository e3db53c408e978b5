package podmgr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// ErrInvalid marks input that fails validation; the API answers it with 400.
var ErrInvalid = errors.New("invalid")

// ErrNotFound marks a missing pod, profile, host or token; the API answers it with 404.
var ErrNotFound = errors.New("not found")

// ErrConflict marks input that clashes with what is stored; the API answers it with 409.
var ErrConflict = errors.New("conflict")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidName checks pod, profile and token names: DNS-label-like, so they are safe in
// URLs, TFTP paths and file names.
func ValidName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return invalidf("%s name %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", kind, name)
	}
	return nil
}

// NormalizeMAC parses a hardware address in any common notation and returns it lower case
// and colon separated.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(hw) != 6 {
		return "", invalidf("MAC address %q: write six hex octets like 52:54:00:12:34:56", s)
	}
	return hw.String(), nil
}

func parseIPv4(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, invalidf("%s %q is not an IPv4 address", field, s)
	}
	return a, nil
}

func parsePrefix(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, invalidf("%s %q is not an IPv4 CIDR such as 192.0.2.0/24", field, s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, invalidf("%s %q has host bits set: did you mean %s?", field, s, p.Masked())
	}
	return p, nil
}

// parsedSubnet is a validated Subnet ready for the hot path.
type parsedSubnet struct {
	Subnet
	Prefix     netip.Prefix
	Router     netip.Addr
	DNSAddrs   []netip.Addr
	RangeFirst netip.Addr
	RangeLast  netip.Addr
}

func parseSubnet(i int, s Subnet) (parsedSubnet, error) {
	field := fmt.Sprintf("subnets[%d]", i)
	ps := parsedSubnet{Subnet: s}
	var err error
	if ps.Prefix, err = parsePrefix(field+".cidr", s.CIDR); err != nil {
		return ps, err
	}
	inside := func(name, v string) (netip.Addr, error) {
		a, err := parseIPv4(field+"."+name, v)
		if err != nil {
			return a, err
		}
		if !ps.Prefix.Contains(a) {
			return a, invalidf("%s.%s %s is outside the subnet %s", field, name, a, ps.Prefix)
		}
		return a, nil
	}
	if s.Gateway != "" {
		if ps.Router, err = inside("gateway", s.Gateway); err != nil {
			return ps, err
		}
	}
	for j, d := range s.DNS {
		a, err := parseIPv4(fmt.Sprintf("%s.dns[%d]", field, j), d)
		if err != nil {
			return ps, err
		}
		ps.DNSAddrs = append(ps.DNSAddrs, a)
	}
	if s.LeaseSeconds < 0 {
		return ps, invalidf("%s.leaseSeconds %d is negative", field, s.LeaseSeconds)
	}
	if (s.RangeStart == "") != (s.RangeEnd == "") {
		return ps, invalidf("%s: set both rangeStart and rangeEnd, or neither", field)
	}
	if s.RangeStart != "" {
		if ps.RangeFirst, err = inside("rangeStart", s.RangeStart); err != nil {
			return ps, err
		}
		if ps.RangeLast, err = inside("rangeEnd", s.RangeEnd); err != nil {
			return ps, err
		}
		if ps.RangeLast.Less(ps.RangeFirst) {
			return ps, invalidf("%s: rangeStart %s is after rangeEnd %s", field, ps.RangeFirst, ps.RangeLast)
		}
	}
	return ps, nil
}

// LeaseSecondsOrDefault is the subnet's lease time.
func (s Subnet) LeaseSecondsOrDefault() int {
	if s.LeaseSeconds > 0 {
		return s.LeaseSeconds
	}
	return DefaultLeaseSeconds
}

// validatePod checks a pod on its own; checks against other pods and profiles are the
// manager's (they need the registry).
func validatePod(p *Pod) (*PodContext, error) {
	if err := ValidName("pod", p.Name); err != nil {
		return nil, err
	}
	pc := &PodContext{Pod: *p}
	if len(p.Match) == 0 {
		return nil, invalidf("pod %s: add at least one match rule (giaddr, relaySource, circuitId, remoteId or linkSelection)", p.Name)
	}
	seen := map[ruleKey]bool{}
	for i, r := range p.Match {
		k, err := parseRule(r)
		if err != nil {
			return nil, fmt.Errorf("pod %s match[%d]: %w", p.Name, i, err)
		}
		if !seen[k] {
			seen[k] = true
			pc.rules = append(pc.rules, k)
		}
	}
	if len(p.Subnets) == 0 {
		return nil, invalidf("pod %s: add at least one provisioning subnet", p.Name)
	}
	for i, s := range p.Subnets {
		ps, err := parseSubnet(i, s)
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		for _, o := range pc.Subnets {
			if o.Prefix.Overlaps(ps.Prefix) {
				return nil, invalidf("pod %s: subnets %s and %s overlap", p.Name, o.Prefix, ps.Prefix)
			}
		}
		pc.Subnets = append(pc.Subnets, ps)
	}
	var err error
	if p.ServerAddress == "" {
		return nil, invalidf("pod %s: set serverAddress, the address its relays and hosts reach podboot at", p.Name)
	}
	if pc.ServerAddr, err = parseIPv4("serverAddress", p.ServerAddress); err != nil {
		return nil, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	if err := validateManagement(p.Management); err != nil {
		return nil, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	switch p.UnknownHosts {
	case "":
		pc.Pod.UnknownHosts = PolicyIgnore
	case PolicyIgnore, PolicyLease, PolicyDiscover:
	default:
		return nil, invalidf("pod %s: unknownHosts %q: use ignore, lease or discover", p.Name, p.UnknownHosts)
	}
	if p.DiscoverLimit < 0 {
		return nil, invalidf("pod %s: discoverLimit %d is negative", p.Name, p.DiscoverLimit)
	}
	switch p.ReplyTo {
	case "":
		pc.Pod.ReplyTo = ReplyToGiaddr
	case ReplyToGiaddr, ReplyToRelaySource:
	default:
		return nil, invalidf("pod %s: replyTo %q: use giaddr or relaySource", p.Name, p.ReplyTo)
	}
	if p.Profile == "" {
		return nil, invalidf("pod %s: name a profile", p.Name)
	}
	if err := validateAcceptRules(p.AcceptRules); err != nil {
		return nil, fmt.Errorf("pod %s: %w", p.Name, err)
	}
	return pc, nil
}

func validateManagement(m ManagementNet) error {
	if m.CIDR == "" {
		if m.Gateway != "" {
			return invalidf("management.gateway %s needs management.cidr", m.Gateway)
		}
		return nil
	}
	pfx, err := parsePrefix("management.cidr", m.CIDR)
	if err != nil {
		return err
	}
	if m.Gateway != "" {
		gw, err := parseIPv4("management.gateway", m.Gateway)
		if err != nil {
			return err
		}
		if !pfx.Contains(gw) {
			return invalidf("management.gateway %s is outside the management subnet %s", gw, pfx)
		}
	}
	if m.VLAN < 0 || m.VLAN > 4094 {
		return invalidf("management.vlan %d: use 1-4094, or 0 for untagged", m.VLAN)
	}
	for i, d := range m.DNS {
		if _, err := parseIPv4(fmt.Sprintf("management.dns[%d]", i), d); err != nil {
			return err
		}
	}
	return nil
}

func validateProfile(p *Profile) error {
	if err := ValidName("profile", p.Name); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{
		{"bootloaders.bios", p.Bootloaders.BIOS},
		{"bootloaders.efiX64", p.Bootloaders.EFIx64},
		{"bootloaders.efiArm64", p.Bootloaders.EFIARM64},
	} {
		if err := validFileName(f.field, f.v); err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
	}
	switch p.SecureBoot {
	case SecureBootOff, SecureBootDistro:
		if p.UKI != "" {
			return invalidf("profile %s: uki is only for secureBoot: full", p.Name)
		}
	case SecureBootFull:
		if p.UKI == "" {
			return invalidf("profile %s: secureBoot: full needs uki: the signed stage1 UKI (podboot stage1 uki)", p.Name)
		}
		if err := validFileName("uki", p.UKI); err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
	default:
		return invalidf("profile %s: secureBoot %q: use distro or full, or leave it out", p.Name, p.SecureBoot)
	}
	if h := p.RootDevice; h != nil && h.MaxSizeMB > 0 && h.MinSizeMB > h.MaxSizeMB {
		return fmt.Errorf("%w: profile %s: rootDevice.minSizeMB %d is above maxSizeMB %d", ErrInvalid, p.Name, h.MinSizeMB, h.MaxSizeMB)
	}
	if err := p.Deadlines.validate(p.Name); err != nil {
		return err
	}
	if err := checkProfileLines(p); err != nil {
		return err
	}
	return checkArtifactRefs(*p)
}

// validFileName accepts empty or a single path element without traversal.
func validFileName(field, v string) error {
	if v == "" {
		return nil
	}
	if strings.ContainsAny(v, "/\\\x00") || v == "." || v == ".." || len(v) > 100 {
		return invalidf("%s %q: give a plain file name of at most 100 characters, without '/'", field, v)
	}
	return nil
}

// validateHost normalises and checks a host on its own, against its pod's context.
func validateHost(h *Host, pc *PodContext) error {
	mac, err := NormalizeMAC(h.MAC)
	if err != nil {
		return err
	}
	if err := checkUnicastMAC(mac); err != nil {
		return err
	}
	h.MAC = mac
	if h.Hostname != "" && !hostnameRE.MatchString(h.Hostname) {
		return invalidf("host %s: hostname %q is not a valid DNS name", mac, h.Hostname)
	}
	if h.ProvisioningIP != "" {
		a, err := parseIPv4("provisioningIp", h.ProvisioningIP)
		if err != nil {
			return fmt.Errorf("host %s: %w", mac, err)
		}
		if _, ok := pc.SubnetFor(a); !ok {
			return invalidf("host %s: provisioningIp %s is outside every provisioning subnet of pod %s", mac, a, pc.Pod.Name)
		}
		if why := pc.unreservable(a); why != "" {
			return invalidf("host %s: provisioningIp %s is %s: a host may not have it", mac, a, why)
		}
		h.ProvisioningIP = a.String()
	}
	if h.ManagementIP != "" {
		a, err := parseIPv4("managementIp", h.ManagementIP)
		if err != nil {
			return fmt.Errorf("host %s: %w", mac, err)
		}
		if m := pc.Pod.Management.CIDR; m != "" {
			if pfx, _ := netip.ParsePrefix(m); !pfx.Contains(a) {
				return invalidf("host %s: managementIp %s is outside the management subnet %s of pod %s", mac, a, pfx, pc.Pod.Name)
			}
		}
		h.ManagementIP = a.String()
	}
	for _, f := range []struct{ field, v string }{
		{"bootloaders.bios", h.Bootloaders.BIOS},
		{"bootloaders.efiX64", h.Bootloaders.EFIx64},
		{"bootloaders.efiArm64", h.Bootloaders.EFIARM64},
	} {
		if err := validFileName(f.field, f.v); err != nil {
			return fmt.Errorf("host %s: %w", mac, err)
		}
	}
	return nil
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
