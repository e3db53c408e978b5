// Command rasend sends IPv6 router advertisements (no prefix, not a default router, no
// DHCPv6) to ff02::1 on one interface, once a second, for a bounded time. Test ToR
// namespaces run it so that iPXE's IPv6 autoconfiguration ends at once instead of
// waiting for its timeout, as it would behind a real ToR that advertises.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

func main() {
	iface := flag.String("iface", "", "interface to advertise on")
	every := flag.Duration("every", time.Second, "interval")
	limit := flag.Duration("for", 10*time.Minute, "stop after this long")
	flag.Parse()
	if err := run(*iface, *every, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "rasend:", err)
		os.Exit(1)
	}
}

func run(name string, every, limit time.Duration) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return err
	}
	defer c.Close()
	p := c.IPv6PacketConn()
	if err := p.SetMulticastHopLimit(255); err != nil { // receivers drop RAs with another hop limit
		return err
	}
	if err := p.SetMulticastInterface(ifi); err != nil {
		return err
	}
	// Current hop limit 64, no M/O flags (no DHCPv6), router lifetime 0, no options.
	body := []byte{64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	msg, err := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
	if err != nil {
		return err
	}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: name}
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(every) {
		// The kernel fills in the ICMPv6 checksum. Until the interface has its link-local
		// address the send fails; keep trying.
		_, _ = c.WriteTo(msg, dst)
	}
	return nil
}
