package server

import (
	"cmp"
	"net"
	"strconv"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/pxe"
)

// openDHCP builds the DHCP service (it binds its socket and loads the stored leases now)
// and registers it to run with the other listeners. dhcp.addr "-" turns it off. It runs
// before openBoot so the boot service can check hosts against their leases.
func (s *Server) openDHCP() error {
	dc := s.cfg.DHCP
	if dc.Addr == pxe.Disabled {
		return nil
	}
	if dc.BootHTTPPort == 0 {
		dc.BootHTTPPort = portOf(s.cfg.Boot.HTTPAddr, 8080)
	}
	if dc.BootHTTPSPort == 0 {
		dc.BootHTTPSPort = cmp.Or(s.cfg.Boot.AdvertiseHTTPSPort, portOf(s.cfg.Boot.HTTPSAddr, 8443))
	}
	srv, err := dhcprelay.New(dc, s.mgr, s.prom, s.log)
	if err != nil {
		return err // dhcprelay's errors say "dhcp: ..." already
	}
	s.leaseIP = srv.LeaseIP
	s.api.SetLeaseLookup(srv.LeaseIP)
	s.dhcpExchange = func(pod, mac string) (pxe.Exchange, bool) {
		x, ok := srv.LastExchange(pod, mac)
		return pxe.Exchange{At: x.At, Source: x.Source, ID: x.ID}, ok
	}
	if err := s.shareDHCP(srv); err != nil {
		srv.Close()
		return err
	}
	s.relays = fleet.Relays{Seen: srv.Relays, Port: srv.Port()}
	s.addService("dhcp", srv.Serve)
	s.onFailure("dhcp socket", srv.Close)
	return nil
}

// portOf is the port of a listen address, or def when it names none (or port 0).
func portOf(addr string, def int) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		return def
	}
	return n
}
