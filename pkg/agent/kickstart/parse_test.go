package kickstart

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const sample = `# podboot kickstart
text
ignoredisk --only-use=/dev/vda
liveimg --url=https://198.51.100.10:8443/agent/v1/hosts/52-54-00-12-34-56/stage2 --checksum=sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `
network --device=52:54:00:12:34:56 --bootproto=static --ip=203.0.113.21 --netmask=255.255.255.0 --gateway=203.0.113.1 --nameserver=203.0.113.53,203.0.113.54 --vlanid=100 --hostname=node1.pod-a.example --activate
rootpw --iscrypted $6$salt$hash
sshkey --username=root "ssh-ed25519 AAAAC3Nza operator@example"
selinux --enforcing
%packages
vim
%end
%post --interpreter=/bin/bash
echo hello > /root/hello
%end
poweroff
`

func TestParse(t *testing.T) {
	ks, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Disk != "vda" || ks.LiveImg == nil || ks.LiveImg.Checksum[:4] != "0123" || ks.Finish != "poweroff" {
		t.Fatalf("ks = %+v", ks)
	}
	want := Network{Device: "52:54:00:12:34:56", BootProto: "static", IP: "203.0.113.21", Prefix: 24, Gateway: "203.0.113.1",
		Nameserver: []string{"203.0.113.53", "203.0.113.54"}, VLAN: 100, Hostname: "node1.pod-a.example"}
	if len(ks.Networks) != 1 || !networkEqual(ks.Networks[0], want) {
		t.Fatalf("network = %+v", ks.Networks)
	}
	if ks.RootPasswordHash != "$6$salt$hash" || len(ks.SSHKeys) != 1 || ks.SSHKeys[0].Key != "ssh-ed25519 AAAAC3Nza operator@example" {
		t.Fatalf("rootpw/sshkey = %q %+v", ks.RootPasswordHash, ks.SSHKeys)
	}
	if len(ks.Posts) != 1 || ks.Posts[0].Interpreter != "/bin/bash" || ks.Posts[0].Body != "echo hello > /root/hello\n" {
		t.Fatalf("posts = %+v", ks.Posts)
	}
	var texts []string
	for _, w := range ks.Warnings {
		texts = append(texts, w.String())
	}
	if len(texts) != 2 || !strings.Contains(texts[0], `line 8: command "selinux"`) || !strings.Contains(texts[1], "%packages") {
		t.Fatalf("warnings = %q", texts)
	}
}

func networkEqual(a, b Network) bool {
	return a.Device == b.Device && a.BootProto == b.BootProto && a.IP == b.IP && a.Prefix == b.Prefix && a.Gateway == b.Gateway &&
		slices.Equal(a.Nameserver, b.Nameserver) && a.VLAN == b.VLAN && a.Hostname == b.Hostname
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain password", "rootpw secret\n", "plain-text"},
		{"bad checksum", "liveimg --url=x --checksum=md5:abc\n", "sha256"},
		{"no url", "liveimg\n", "--url"},
		{"bad netmask", "network --bootproto=static --ip=192.0.2.2 --netmask=255.0.255.0\n", "contiguous"},
		{"static without mask", "network --bootproto=static --ip=192.0.2.2\n", "netmask"},
		{"bad vlan", "network --vlanid=5000\n", "1-4094"},
		{"bad hostname", "network --hostname=-bad-\n", "host name"},
		{"unclosed post", "%post\necho\n", "not closed"},
		{"unterminated quote", "sshkey --username=root \"abc\n", "quote"},
		{"two disks", "ignoredisk --only-use=sda,sdb\n", "one disk"},
		{"bad user", "sshkey --username=../x \"k\"\n", "USER"},
		{"too large", strings.Repeat("#", MaxSize+1), "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	ks, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"), 0o640)
	os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf"))
	pkg := tarOf(t, map[string]string{"scripts/10-hello.sh": "#!/bin/bash\necho pkg\n", "../evil.sh": "#!/bin/sh\n"})
	warns, err := Apply(root, ks, Input{Raw: []byte(sample), MAC: "52:54:00:12:34:56", BashPackage: bytes.NewReader(pkg)})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	checks := map[string]string{
		"etc/hostname": "node1\n",
		KSPath:         sample,
		"etc/systemd/network/10-podboot-0.network":         "MACAddress=52:54:00:12:34:56",
		"etc/systemd/network/10-podboot-0-vlan100.netdev":  "Id=100",
		"etc/systemd/network/10-podboot-0-vlan100.network": "Address=203.0.113.21/24\nGateway=203.0.113.1\nDNS=203.0.113.53",
		"etc/resolv.conf":                    "nameserver 203.0.113.53\nnameserver 203.0.113.54\n",
		"etc/shadow":                         "root:$6$salt$hash:19000",
		"root/.ssh/authorized_keys":          "ssh-ed25519 AAAAC3Nza operator@example\n",
		FirstBootDir + "/50-ks-post-01":      "#!/bin/bash\necho hello",
		FirstBootDir + "/60-pkg-10-hello.sh": "echo pkg",
		FirstBootDir + "/60-pkg-evil.sh":     "#!/bin/sh",
		"etc/hosts":                          "203.0.113.21\tnode1.pod-a.example node1",
	}
	for f, want := range checks {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s = %q, want it to contain %q", f, b, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, firstBootWant)); err != nil || l != "/"+firstBootUnit {
		t.Errorf("first-boot unit not enabled: %q %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "evil.sh")); err == nil {
		t.Error("package escaped the root")
	}
}

func TestApplyWarnsUnknownUser(t *testing.T) {
	ks := &Kickstart{SSHKeys: []SSHKey{{User: "ops", Key: "ssh-ed25519 AAA"}}}
	warns, err := Apply(t.TempDir(), ks, Input{Raw: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Text, "ops") {
		t.Fatalf("warnings = %v", warns)
	}
}

func FuzzParseKickstart(f *testing.F) {
	f.Add(sample)
	f.Add("network --bootproto=static --ip=1.2.3.4 --prefix=33\n")
	f.Add("%post\n%end\n%pre\n%end\n")
	f.Fuzz(func(t *testing.T, in string) {
		ks, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if ks.Finish != "reboot" && ks.Finish != "poweroff" {
			t.Fatalf("finish %q", ks.Finish)
		}
		if len(ks.Warnings) > maxWarnings {
			t.Fatalf("%d warnings", len(ks.Warnings))
		}
		for _, n := range ks.Networks {
			if n.BootProto == "static" && (n.Prefix < 1 || n.Prefix > 32) {
				t.Fatalf("prefix %d accepted", n.Prefix)
			}
		}
		// Anything parsed must apply inside a fresh root without escaping it.
		if _, err := Apply(t.TempDir(), ks, Input{Raw: []byte(in), MAC: "52:54:00:00:00:01"}); err != nil && strings.Contains(err.Error(), "escapes") {
			t.Fatalf("apply escaped: %v", err)
		}
	})
}
