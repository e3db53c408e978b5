package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/sys/unix"
)

// Link is the NIC the agent provisions through and the lease it got.
type Link struct {
	Name    string
	Index   int
	MAC     string
	Addr    netip.Prefix
	Gateway netip.Addr
	Server  netip.Addr // the DHCP server identifier (option 54)
}

// setUp brings an interface up (SIOCSIFFLAGS |= IFF_UP).
func setUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

// ethernetNICs lists the physical Ethernet interfaces (those with a device), by name.
func ethernetNICs() ([]net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []net.Interface
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || len(i.HardwareAddr) != 6 {
			continue
		}
		if _, err := os.Stat(filepath.Join("/sys/class/net", i.Name, "device")); err != nil {
			continue
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b net.Interface) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func hasCarrier(name string) bool {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "carrier"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// pickNIC brings every Ethernet NIC up and waits (until ctx ends) for carrier. The NIC
// with the MAC the host was booted for wins; otherwise the first one with carrier.
func pickNIC(ctx context.Context, mac string, log *slog.Logger) (net.Interface, error) {
	_ = setUp("lo")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	upped := map[string]bool{}
	for {
		nics, err := ethernetNICs()
		if err != nil {
			return net.Interface{}, err
		}
		var withCarrier []net.Interface
		for _, n := range nics {
			if !upped[n.Name] {
				if err := setUp(n.Name); err != nil {
					log.Warn("cannot bring NIC up", "nic", n.Name, "err", err)
				}
				upped[n.Name] = true
			}
			if hasCarrier(n.Name) {
				withCarrier = append(withCarrier, n)
			}
		}
		for _, n := range withCarrier {
			if n.HardwareAddr.String() == mac {
				return n, nil
			}
		}
		if len(withCarrier) > 0 && len(withCarrier) == len(nics) {
			return withCarrier[0], nil
		}
		select {
		case <-ctx.Done():
			if len(withCarrier) > 0 {
				return withCarrier[0], nil
			}
			return net.Interface{}, fmt.Errorf("no NIC with link among %d Ethernet interfaces: %w", len(nics), ctx.Err())
		case <-tick.C:
		}
	}
}

// dhcp gets a lease on the NIC (the request is relayed to podboot like any other)
// and configures the address and default route.
func dhcp(ctx context.Context, nic net.Interface, log *slog.Logger) (Link, error) {
	l := Link{Name: nic.Name, Index: nic.Index, MAC: nic.HardwareAddr.String()}
	c, err := nclient4.New(nic.Name, nclient4.WithTimeout(4*time.Second), nclient4.WithRetry(4))
	if err != nil {
		return l, fmt.Errorf("DHCP client on %s: %w", nic.Name, err)
	}
	defer c.Close()
	var lease *nclient4.Lease
	for attempt := 1; ; attempt++ {
		lease, err = c.Request(ctx, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("podboot-agent")))
		if err == nil {
			break
		}
		if ctx.Err() != nil || attempt >= 5 {
			return l, fmt.Errorf("DHCP on %s: %w", nic.Name, err)
		}
		log.Warn("DHCP attempt failed; retrying", "nic", nic.Name, "attempt", attempt, "err", err)
	}
	ack := lease.ACK
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok {
		return l, errors.New("DHCP ACK without an address")
	}
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		bits, _ = m.Size()
	}
	l.Addr = netip.PrefixFrom(ip, bits)
	if rs := ack.Router(); len(rs) > 0 {
		l.Gateway, _ = netip.AddrFromSlice(rs[0].To4())
	}
	if sid := ack.ServerIdentifier(); sid != nil {
		l.Server, _ = netip.AddrFromSlice(sid.To4())
	}
	if err := addAddress(nic.Index, l.Addr); err != nil {
		return l, err
	}
	if l.Gateway.IsValid() {
		if err := addDefaultRoute(nic.Index, l.Gateway); err != nil {
			return l, err
		}
	}
	return l, nil
}

// static configures the NIC from the command line (virtual-media boot: no DHCP server)
// and writes the name servers to /etc/resolv.conf.
func static(nic net.Interface, s StaticNet) (Link, error) {
	l := Link{Name: nic.Name, Index: nic.Index, MAC: nic.HardwareAddr.String(), Addr: s.Addr, Gateway: s.Gateway}
	if err := addAddress(nic.Index, s.Addr); err != nil {
		return l, fmt.Errorf("static address %s on %s: %w", s.Addr, nic.Name, err)
	}
	if s.Gateway.IsValid() {
		if err := addDefaultRoute(nic.Index, s.Gateway); err != nil {
			return l, fmt.Errorf("default route via %s on %s: %w", s.Gateway, nic.Name, err)
		}
	}
	if len(s.DNS) == 0 {
		return l, nil
	}
	var b strings.Builder
	for _, d := range s.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	if err := os.WriteFile("/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
		return l, fmt.Errorf("write /etc/resolv.conf: %w", err)
	}
	return l, nil
}
