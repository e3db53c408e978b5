package podmgr

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules in this file apply to what an operator sends, not to what is already stored:
// a store written before a rule existed still loads (Manager.Open runs validatePod only),
// and the next change to that pod must satisfy them.

// MaxLeaseSeconds is the longest lease a subnet may set: option 51 is 32 bits and
// 0xffffffff means "infinite", which podboot never hands out.
const MaxLeaseSeconds = 1<<32 - 2

// checkPodInput applies the input rules to a pod validatePod accepted.
func checkPodInput(pc *PodContext) error {
	p := &pc.Pod
	for i, r := range p.Match {
		for _, f := range []struct{ field, v string }{{"circuitId", r.CircuitID}, {"remoteId", r.RemoteID}} {
			if err := checkIDText(f.v); err != nil {
				return invalidf("pod %s match[%d].%s: %v", p.Name, i, f.field, err)
			}
		}
	}
	for i, s := range pc.Subnets {
		if s.LeaseSeconds < 0 || s.LeaseSeconds > MaxLeaseSeconds {
			return invalidf("pod %s: subnets[%d].leaseSeconds %d: use 1 to %d seconds (or leave it out for %d)", p.Name, i, s.LeaseSeconds, MaxLeaseSeconds, DefaultLeaseSeconds)
		}
		if b := s.Prefix.Bits(); b == 0 || b == 32 {
			return invalidf("pod %s: subnets[%d].cidr %s: a provisioning subnet must be /1 to /31, a real link with room for hosts", p.Name, i, s.Prefix)
		}
		if err := checkDomain(fmt.Sprintf("subnets[%d].domain", i), s.Domain); err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	if err := checkDomain("management.domain", p.Management.Domain); err != nil {
		return fmt.Errorf("pod %s: %w", p.Name, err)
	}
	if err := checkKickstartValues(p.Kickstart); err != nil {
		return fmt.Errorf("pod %s: %w", p.Name, err)
	}
	return nil
}

// checkIDText refuses a text-form circuit-id or remote-id that is not printable UTF-8.
// JSON turns invalid UTF-8 into U+FFFD, so that is refused too: the rule would compare
// against bytes no relay sends. Raw bytes are written "hex:…".
func checkIDText(v string) error {
	if v == "" || strings.HasPrefix(v, "hex:") {
		return nil
	}
	if utf8.ValidString(v) && !strings.ContainsFunc(v, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }) {
		return nil
	}
	b := []byte(v)
	if len(b) > 32 {
		b = b[:32]
	}
	return fmt.Errorf("is not printable UTF-8 text: write raw bytes in the hex form, e.g. \"hex:%x\"", b)
}

// checkUnicastMAC refuses the addresses no NIC has: multicast (which includes
// broadcast) and all zeros. mac is normalised.
func checkUnicastMAC(mac string) error {
	hw, _ := net.ParseMAC(mac)
	switch {
	case len(hw) != 6:
		return invalidf("MAC address %q: write six hex octets like 52:54:00:12:34:56", mac)
	case mac == "00:00:00:00:00:00":
		return invalidf("MAC address %s is all zeros: no NIC has it", mac)
	case mac == "ff:ff:ff:ff:ff:ff":
		return invalidf("MAC address %s is the broadcast address: no NIC has it", mac)
	case hw[0]&1 != 0:
		return invalidf("MAC address %s is a multicast address (first octet odd): no NIC has it", mac)
	}
	return nil
}

// unreservable says why a may not be reserved for a host ("" when it may): the
// subnet's network or broadcast address, its gateway, or an address the pod's relays
// use (a giaddr match rule).
func (pc *PodContext) unreservable(a netip.Addr) string {
	if ps, ok := pc.subnetFor(a); ok {
		if ps.Prefix.Bits() < 31 {
			if a == ps.Prefix.Addr() {
				return "the network address of " + ps.Prefix.String()
			}
			if a == lastAddr(ps.Prefix) {
				return "the broadcast address of " + ps.Prefix.String()
			}
		}
		if a == ps.Router {
			return "the gateway of " + ps.Prefix.String()
		}
	}
	for _, k := range pc.rules {
		if k.mask&bitGiaddr != 0 && k.giaddr == a {
			return "a relay address (giaddr match rule) of pod " + pc.Pod.Name
		}
	}
	return ""
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func checkDomain(field, v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 253 || !hostnameRE.MatchString(v) {
		return invalidf("%s %q is not a valid DNS domain", field, clipValue(v))
	}
	return nil
}

// Formats of the kickstart values: each is rendered into one kickstart line, so each
// is one line of a known alphabet.
var (
	sshKeyRE = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^"\\\x00-\x1f\x7f]*)?$`)
	// cryptRE is a crypt(3) string: $id$[params$]salt$hash (MD5, SHA-256/512, bcrypt, yescrypt).
	cryptRE = regexp.MustCompile(`^\$[0-9a-z]{1,3}\$[./0-9A-Za-z$=,]+$`)
	// diskRE is a device name (vda) or path (/dev/disk/by-id/…).
	diskRE = regexp.MustCompile(`^[A-Za-z0-9/][A-Za-z0-9._:+@/-]*$`)
)

const (
	maxSSHKeys   = 64
	maxSSHKeyLen = 16 << 10
)

// checkKickstartValues checks the pod-wide kickstart values for their format.
func checkKickstartValues(k KickstartValues) error {
	if len(k.SSHKeys) > maxSSHKeys {
		return invalidf("kickstart.sshKeys: %d keys; at most %d", len(k.SSHKeys), maxSSHKeys)
	}
	for i, key := range k.SSHKeys {
		if len(key) > maxSSHKeyLen || !sshKeyRE.MatchString(key) {
			return invalidf("kickstart.sshKeys[%d] %q is not one OpenSSH public key line (TYPE BASE64 [COMMENT], no quotes, backslashes or line breaks)", i, clipValue(key))
		}
	}
	if h := k.RootPasswordHash; h != "" && (len(h) > 512 || !cryptRE.MatchString(h)) {
		return invalidf("kickstart.rootPasswordHash %q is not a crypt(3) hash such as $6$SALT$HASH (make one with 'openssl passwd -6'); never a plain password", clipValue(h))
	}
	if d := k.TargetDisk; d != "" && (len(d) > 255 || !diskRE.MatchString(d) || strings.Contains(d, "..")) {
		return invalidf("kickstart.targetDisk %q: give one device name such as vda or a path such as /dev/disk/by-id/NAME", clipValue(d))
	}
	return nil
}

// checkProfileLines refuses a line break or control character in a profile's one-line
// fields: each is rendered into one line of the iPXE script (kernel arguments, artifact
// URLs), where a line break would add a command. The templates themselves are text.
func checkProfileLines(p *Profile) error {
	for _, f := range []struct{ field, v string }{
		{"kernelArgs", p.KernelArgs}, {"kernel", p.Kernel}, {"initrd", p.Initrd}, {"stage2", p.Stage2}, {"bashPackage", p.BashPackage},
	} {
		if i := strings.IndexFunc(f.v, isControl); i >= 0 {
			return invalidf("profile %s: %s has a line break or control character (%q at byte %d): it must be one line", p.Name, f.field, f.v[i], i)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// clipValue bounds how much of a refused value an error quotes.
func clipValue(v string) string {
	const max = 64
	if len(v) <= max {
		return v
	}
	return v[:max] + "…"
}
