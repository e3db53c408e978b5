package server

import (
	"errors"
	"fmt"
	"net"

	"github.com/podboot/podboot/pkg/pxe"
)

// listenAddr is one listener of serve and the settings that move it.
type listenAddr struct {
	name, network, addr, setting string
}

func (c Config) listenAddrs() []listenAddr {
	or := func(a, def string) string {
		if a == "" {
			return def
		}
		return a
	}
	return []listenAddr{
		{"management API", "tcp", or(c.API.Addr, ":9443"), "api.addr in --config, --api-addr or PODBOOT_API_ADDR"},
		{"dhcp", "udp", or(c.DHCP.Addr, ":67"), "dhcp.addr in --config, --dhcp-addr or PODBOOT_DHCP_ADDR; \"-\" turns DHCP off"},
		{"tftp", "udp", or(c.Boot.TFTPAddr, pxe.DefaultTFTPAddr), "boot.tftpAddr in --config, --tftp-addr or PODBOOT_TFTP_ADDR; \"-\" turns TFTP off"},
		{"http", "tcp", or(c.Boot.HTTPAddr, pxe.DefaultHTTPAddr), "boot.httpAddr in --config, --http-addr or PODBOOT_HTTP_ADDR"},
		{"https", "tcp", or(c.Boot.HTTPSAddr, pxe.DefaultHTTPSAddr), "boot.httpsAddr in --config, --https-addr or PODBOOT_HTTPS_ADDR; \"-\" turns it off"},
	}
}

// checkPorts binds and releases every listen address before anything is written to the
// data dir (CA, admin token, client config), so a busy port fails the first start
// without leaving half a setup behind. Every busy port is named, with the setting that
// moves it. (Another process can still take a port between this check and the real
// bind; that bind then fails start-up as before.)
func checkPorts(c Config) error {
	var errs []error
	for _, l := range c.listenAddrs() {
		if l.addr == pxe.Disabled {
			continue
		}
		var err error
		if l.network == "tcp" {
			var ln net.Listener
			if ln, err = net.Listen("tcp", l.addr); err == nil {
				ln.Close()
			}
		} else {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", l.addr); err == nil {
				pc.Close()
			}
		}
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) {
				err = op.Err
			}
			errs = append(errs, fmt.Errorf("listen %s %s %s: %w (move it: %s)", l.name, l.network, l.addr, err, l.setting))
		}
	}
	return errors.Join(errs...)
}
