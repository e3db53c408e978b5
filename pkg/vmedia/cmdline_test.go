package vmedia

import (
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/agent"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestCmdline checks the ISO's command line is one the agent parses into the host's
// static address, and that a host without a usable address is refused.
func TestCmdline(t *testing.T) {
	pod := podmgr.Pod{Name: "pod-a", Subnets: []podmgr.Subnet{
		{CIDR: "198.51.100.0/24", Gateway: "198.51.100.1"},
		{CIDR: "192.0.2.0/25", Gateway: "192.0.2.1", DNS: []string{"192.0.2.53"}},
	}}
	for _, tc := range []struct {
		name, ip, err string
	}{
		{name: "second subnet", ip: "192.0.2.50"},
		{name: "no address", ip: "", err: "provisioningIp"},
		{name: "outside every subnet", ip: "203.0.113.5", err: "none of pod pod-a's subnets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Boot{Pod: pod, Host: podmgr.Host{MAC: mac, ProvisioningIP: tc.ip}, KernelArgs: "console=ttyS0",
				ServerURL: "https://192.0.2.1:8443", Token: "pbh_secret"}
			got, err := Cmdline(b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := agent.ParseCmdline(got)
			if err != nil {
				t.Fatalf("the agent refuses %q: %v", got, err)
			}
			if p.Static == nil || p.Static.Addr.String() != "192.0.2.50/25" || p.Static.Gateway.String() != "192.0.2.1" ||
				len(p.Static.DNS) != 1 || p.Token != "pbh_secret" || p.MAC != mac || p.Pod != "pod-a" {
				t.Fatalf("%q parses to %+v static %+v", got, p, p.Static)
			}
		})
	}
}
