package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
)

// Params are what the iPXE script told the agent on the kernel command line.
type Params struct {
	Server *url.URL // https://ADDR:PORT
	// Fallback are the other replicas' URLs (podboot.servers), tried in turn when the
	// server stops answering.
	Fallback []*url.URL
	Pod      string
	MAC      string // lower case, colon separated
	Token    string
	// Disk overrides the target disk (podboot.disk=vda); empty: ask the server, then
	// take the first disk.
	Disk string
	// LLDPWait is how long to listen for LLDP before the inventory (podboot.lldp=SECONDS);
	// negative when the command line does not say (the agent's default applies).
	LLDPWait time.Duration
	// Fetch: the command line is a Secure Boot full-chain UKI's, the same for every host
	// (podboot.token=fetch); Pod, MAC and Token come from the server over HTTPS once
	// the agent has an address (hostparams.go).
	Fetch bool
	// Static is the NIC's static configuration (podboot.ip); nil: DHCP.
	Static *StaticNet
}

// StaticNet is a NIC configuration given on the command line instead of by DHCP.
type StaticNet struct {
	Addr    netip.Prefix
	Gateway netip.Addr   // invalid: no default route
	DNS     []netip.Addr // written to /etc/resolv.conf
}

// TokenFetch is podboot.token's value on a UKI's signed command line.
const TokenFetch = "fetch"

// ParseCmdline reads podboot.* parameters from a kernel command line.
func ParseCmdline(cmdline string) (Params, error) {
	var p Params
	vals := map[string]string{}
	for _, f := range strings.Fields(cmdline) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "podboot.") {
			vals[k] = v
		}
	}
	srv := vals[agentproto.ParamServer]
	if srv == "" {
		return p, fmt.Errorf("kernel command line has no %s=https://ADDR:PORT", agentproto.ParamServer)
	}
	u, err := serverURL(agentproto.ParamServer, srv)
	if err != nil {
		return p, err
	}
	p.Server = u
	for _, s := range strings.Split(vals[agentproto.ParamServers], ",") {
		if s == "" {
			continue
		}
		f, err := serverURL(agentproto.ParamServers, s)
		if err != nil {
			return p, err
		}
		if f.Host != p.Server.Host {
			p.Fallback = append(p.Fallback, f)
		}
	}
	p.Token = vals[agentproto.ParamToken]
	p.Fetch = p.Token == TokenFetch
	if p.Fetch {
		p.Token = ""
	}
	if v := vals[agentproto.ParamMAC]; v != "" || !p.Fetch {
		hw, err := net.ParseMAC(v)
		if err != nil || len(hw) != 6 {
			return p, fmt.Errorf("%s=%q: want a MAC address", agentproto.ParamMAC, v)
		}
		p.MAC = hw.String()
	}
	if p.Token == "" && !p.Fetch {
		return p, errors.New("kernel command line has no podboot.token: the iPXE script was rendered without a provisioning token")
	}
	p.Pod = vals[agentproto.ParamPod]
	p.Disk = strings.TrimPrefix(vals[agentproto.ParamDisk], "/dev/")
	if strings.ContainsAny(p.Disk, "/.") {
		return p, fmt.Errorf("%s=%q: name a disk, e.g. vda", agentproto.ParamDisk, p.Disk)
	}
	p.LLDPWait = -1
	if v, ok := vals[agentproto.ParamLLDP]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 300 {
			return p, fmt.Errorf("%s=%q: want seconds, 0 to 300", agentproto.ParamLLDP, v)
		}
		p.LLDPWait = time.Duration(n) * time.Second
	}
	if p.Static, err = parseStatic(vals); err != nil {
		return p, err
	}
	return p, nil
}

// parseStatic reads podboot.ip, podboot.gw and podboot.dns; no podboot.ip means DHCP.
func parseStatic(vals map[string]string) (*StaticNet, error) {
	ip := vals[agentproto.ParamIP]
	if ip == "" {
		if vals[agentproto.ParamGateway] != "" || vals[agentproto.ParamDNS] != "" {
			return nil, fmt.Errorf("%s and %s need %s=ADDR/PREFIX", agentproto.ParamGateway, agentproto.ParamDNS, agentproto.ParamIP)
		}
		return nil, nil
	}
	var s StaticNet
	var err error
	if s.Addr, err = netip.ParsePrefix(ip); err != nil || !s.Addr.Addr().Is4() {
		return nil, fmt.Errorf("%s=%q: want an IPv4 ADDR/PREFIX", agentproto.ParamIP, ip)
	}
	if gw := vals[agentproto.ParamGateway]; gw != "" {
		if s.Gateway, err = netip.ParseAddr(gw); err != nil || !s.Gateway.Is4() || !s.Addr.Masked().Contains(s.Gateway) {
			return nil, fmt.Errorf("%s=%q: want an IPv4 address inside %s", agentproto.ParamGateway, gw, s.Addr.Masked())
		}
	}
	for _, d := range strings.Split(vals[agentproto.ParamDNS], ",") {
		if d == "" {
			continue
		}
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: want addresses, comma separated", agentproto.ParamDNS, vals[agentproto.ParamDNS])
		}
		s.DNS = append(s.DNS, a)
	}
	return &s, nil
}

// serverURL parses one https://ADDR:PORT server URL of parameter param.
func serverURL(param, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want https://ADDR:PORT", param, s)
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// WithHostParams returns p with the pod, MAC and token the server sent for a UKI boot
// (the body of GET /boot/params/MAC: podboot.* fields on one line). Only those three
// are taken: the server URL and the disk stay the signed command line's.
func (p Params) WithHostParams(body string) (Params, error) {
	vals := map[string]string{}
	for _, f := range strings.Fields(body) {
		if k, v, ok := strings.Cut(f, "="); ok {
			vals[k] = v
		}
	}
	hw, err := net.ParseMAC(vals[agentproto.ParamMAC])
	if err != nil || len(hw) != 6 {
		return p, fmt.Errorf("host parameters: %s=%q: want a MAC address", agentproto.ParamMAC, vals[agentproto.ParamMAC])
	}
	tok := vals[agentproto.ParamToken]
	if tok == "" || tok == TokenFetch {
		return p, errors.New("host parameters: no podboot.token")
	}
	p.Pod, p.MAC, p.Token, p.Fetch = vals[agentproto.ParamPod], hw.String(), tok, false
	return p, nil
}
