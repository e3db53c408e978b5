package vmedia

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Boot is what one host's ISO tells stage1: the same podboot.* parameters the iPXE script
// renders, plus the static provisioning address (the host has no DHCP server).
type Boot struct {
	Pod        podmgr.Pod
	Host       podmgr.Host
	KernelArgs string   // the profile's
	ServerURL  string   // https://ADDR:PORT of this podboot
	ServerURLs []string // every replica's, for the agent's failover
	Token      string   // the host's one-time provisioning token
}

// Cmdline is the kernel command line of the host's ISO. The address is the host's
// provisioningIp; its subnet is the pod subnet that holds it (prefix, gateway, DNS).
func Cmdline(b Boot) (string, error) {
	ip, err := netip.ParseAddr(b.Host.ProvisioningIP)
	if err != nil {
		return "", fmt.Errorf("host %s: virtual media needs a provisioningIp (the host gets no DHCP): %q", b.Host.MAC, b.Host.ProvisioningIP)
	}
	var sub *podmgr.Subnet
	for i, s := range b.Pod.Subnets {
		if p, err := netip.ParsePrefix(s.CIDR); err == nil && p.Contains(ip) {
			sub = &b.Pod.Subnets[i]
			break
		}
	}
	if sub == nil {
		return "", fmt.Errorf("host %s: provisioningIp %s is in none of pod %s's subnets", b.Host.MAC, ip, b.Pod.Name)
	}
	prefix, _ := netip.ParsePrefix(sub.CIDR)
	args := []string{
		b.KernelArgs,
		agentproto.ParamServer + "=" + b.ServerURL,
	}
	if len(b.ServerURLs) > 0 {
		args = append(args, agentproto.ParamServers+"="+strings.Join(b.ServerURLs, ","))
	}
	args = append(args,
		agentproto.ParamPod+"="+b.Pod.Name,
		agentproto.ParamMAC+"="+b.Host.MAC,
		agentproto.ParamToken+"="+b.Token,
		agentproto.ParamIP+"="+netip.PrefixFrom(ip, prefix.Bits()).String())
	if sub.Gateway != "" {
		args = append(args, agentproto.ParamGateway+"="+sub.Gateway)
	}
	if len(sub.DNS) > 0 {
		args = append(args, agentproto.ParamDNS+"="+strings.Join(sub.DNS, ","))
	}
	out := strings.TrimSpace(strings.Join(args, " "))
	if strings.ContainsAny(out, "\n\r") {
		return "", fmt.Errorf("host %s: the kernel command line has a line break", b.Host.MAC)
	}
	return out, nil
}
