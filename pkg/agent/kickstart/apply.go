package kickstart

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Files the applier writes inside the installed root.
const (
	KSPath        = "etc/podboot/ks.cfg"
	FirstBootDir  = "etc/podboot/firstboot.d"
	firstBootRun  = "etc/podboot/firstboot"
	firstBootUnit = "etc/systemd/system/podboot-firstboot.service"
	firstBootWant = "etc/systemd/system/multi-user.target.wants/podboot-firstboot.service"
	networkDir    = "etc/systemd/network"
	maxPkgFiles   = 256
	maxPkgBytes   = 16 << 20
)

// Input is what Apply writes into the installed system.
type Input struct {
	// Raw is the kickstart as served, kept at /etc/podboot/ks.cfg.
	Raw []byte
	// MAC is the provisioning NIC's address, used when a network line names no device.
	MAC string
	// BashPackage is a tar (optionally gzip) of first-boot scripts; nil when none.
	BashPackage io.Reader
}

// Apply writes the host's configuration below rootDir, the mounted installed root. It
// stays inside rootDir (os.Root: no "..", no symlink escape). It returns the steps it
// skipped as warnings.
func Apply(rootDir string, ks *Kickstart, in Input) ([]Warning, error) {
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return nil, fmt.Errorf("open installed root %s: %w", rootDir, err)
	}
	defer root.Close()
	a := &applier{root: root, ks: ks, in: in}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"write /etc/podboot/ks.cfg", func() error { return a.write(KSPath, 0o600, in.Raw) }},
		{"set the host name", a.hostname},
		{"write the network configuration", a.network},
		{"set the root password", a.rootpw},
		{"install SSH keys", a.sshKeys},
		{"install first-boot scripts", a.firstBoot},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return a.warnings, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return a.warnings, nil
}

type applier struct {
	root     *os.Root
	ks       *Kickstart
	in       Input
	warnings []Warning
}

func (a *applier) warn(format string, args ...any) {
	a.warnings = append(a.warnings, Warning{Text: fmt.Sprintf(format, args...)})
}

func (a *applier) write(name string, perm fs.FileMode, data []byte) error {
	if err := a.root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := a.root.WriteFile(name, data, perm); err != nil {
		return err
	}
	return a.root.Chmod(name, perm)
}

func (a *applier) hostname() error {
	var name string
	for _, n := range a.ks.Networks {
		if n.Hostname != "" {
			name = n.Hostname
		}
	}
	if name == "" {
		return nil
	}
	short, _, _ := strings.Cut(name, ".")
	if err := a.write("etc/hostname", 0o644, []byte(short+"\n")); err != nil {
		return err
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	for _, n := range a.ks.Networks {
		if n.IP != "" {
			hosts += fmt.Sprintf("%s\t%s %s\n", n.IP, name, short)
			break
		}
	}
	if !strings.Contains(hosts, name) {
		hosts += fmt.Sprintf("127.0.1.1\t%s %s\n", name, short)
	}
	return a.write("etc/hosts", 0o644, []byte(hosts))
}

// network writes systemd-networkd units: the NIC is matched by MAC (interface names
// differ between the stage1 kernel and the installed system), and the management VLAN,
// if any, is a netdev on top of it.
func (a *applier) network() error {
	var dns []string
	for i, n := range a.ks.Networks {
		match, err := a.match(n.Device)
		if err != nil {
			return err
		}
		base := fmt.Sprintf("%s/%02d-podboot-%d", networkDir, 10+i, i)
		addr := ""
		if n.BootProto == "static" {
			addr = fmt.Sprintf("Address=%s/%d\n", n.IP, n.Prefix)
			if n.Gateway != "" {
				addr += "Gateway=" + n.Gateway + "\n"
			}
		} else {
			addr = "DHCP=ipv4\n"
		}
		for _, ns := range n.Nameserver {
			addr += "DNS=" + ns + "\n"
			dns = append(dns, ns)
		}
		if n.VLAN == 0 {
			if err := a.write(base+".network", 0o644, []byte(match+"\n[Network]\n"+addr)); err != nil {
				return err
			}
			continue
		}
		vname := fmt.Sprintf("vlan%d", n.VLAN)
		parent := match + "\n[Network]\nVLAN=" + vname + "\nLinkLocalAddressing=no\n"
		netdev := fmt.Sprintf("[NetDev]\nName=%s\nKind=vlan\n\n[VLAN]\nId=%d\n", vname, n.VLAN)
		vnet := fmt.Sprintf("[Match]\nName=%s\n\n[Network]\n%s", vname, addr)
		for name, body := range map[string]string{base + ".network": parent, base + "-" + vname + ".netdev": netdev, base + "-" + vname + ".network": vnet} {
			if err := a.write(name, 0o644, []byte(body)); err != nil {
				return err
			}
		}
	}
	if len(dns) > 0 {
		var b strings.Builder
		for _, ns := range dns {
			b.WriteString("nameserver " + ns + "\n")
		}
		_ = a.root.Remove("etc/resolv.conf") // may be a symlink to a resolver's runtime file
		return a.write("etc/resolv.conf", 0o644, []byte(b.String()))
	}
	return nil
}

func (a *applier) match(device string) (string, error) {
	if device == "" || device == "link" || device == "bootif" {
		device = a.in.MAC
	}
	if device == "" {
		return "", errors.New("the network line names no device and the provisioning MAC is unknown")
	}
	if isMAC(device) {
		return "[Match]\nMACAddress=" + strings.ToLower(device) + "\n", nil
	}
	if strings.ContainsAny(device, "/\n ") {
		return "", fmt.Errorf("device %q is not an interface name", device)
	}
	return "[Match]\nName=" + device + "\n", nil
}

func isMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i, c := range s {
		if i%3 == 2 {
			if c != ':' && c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func (a *applier) rootpw() error {
	if a.ks.RootPasswordHash == "" && !a.ks.RootLocked {
		return nil
	}
	field := a.ks.RootPasswordHash
	if a.ks.RootLocked {
		field = "!"
	}
	if strings.ContainsAny(field, ":\n") {
		return errors.New("the password hash contains ':' or a newline")
	}
	old, err := a.root.ReadFile("etc/shadow")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(old), "\n"), "\n")
	found := false
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) >= 2 && f[0] == "root" {
			f[1] = field
			lines[i] = strings.Join(f, ":")
			found = true
		}
	}
	if !found {
		lines = append(lines, "root:"+field+":19000:0:99999:7:::")
	}
	out := strings.TrimLeft(strings.Join(lines, "\n"), "\n") + "\n"
	return a.write("etc/shadow", 0o640, []byte(out))
}

func (a *applier) sshKeys() error {
	byUser := map[string][]string{}
	var users []string
	for _, k := range a.ks.SSHKeys {
		if strings.ContainsAny(k.Key, "\n\r") {
			return fmt.Errorf("ssh key for %s spans lines", k.User)
		}
		if _, ok := byUser[k.User]; !ok {
			users = append(users, k.User)
		}
		byUser[k.User] = append(byUser[k.User], k.Key)
	}
	for _, u := range users {
		home, uid, gid, ok := a.lookupUser(u)
		if !ok {
			a.warn("sshkey --username=%s: no such user in the installed system; key not installed", u)
			continue
		}
		dir := strings.TrimPrefix(home, "/") + "/.ssh"
		if err := a.root.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		file := dir + "/authorized_keys"
		if err := a.write(file, 0o600, []byte(strings.Join(byUser[u], "\n")+"\n")); err != nil {
			return err
		}
		for _, p := range []string{dir, file} {
			if err := a.root.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrPermission) {
				return err
			}
		}
	}
	return nil
}

// lookupUser reads the installed system's /etc/passwd (root always exists).
func (a *applier) lookupUser(user string) (home string, uid, gid int, ok bool) {
	b, err := a.root.ReadFile("etc/passwd")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ":")
			if len(f) >= 6 && f[0] == user && strings.HasPrefix(f[5], "/") && !strings.Contains(f[5], "..") {
				_, err1 := fmt.Sscan(f[2], &uid)
				_, err2 := fmt.Sscan(f[3], &gid)
				return f[5], uid, gid, err1 == nil && err2 == nil
			}
		}
	}
	if user == "root" {
		return "/root", 0, 0, true
	}
	return "", 0, 0, false
}

const firstBootScript = `#!/bin/sh
# podboot first-boot runner: runs every script in /etc/podboot/firstboot.d once, in
# name order, logs to /var/log/podboot-firstboot.log, then disables itself.
exec >>/var/log/podboot-firstboot.log 2>&1
for s in /etc/podboot/firstboot.d/*; do
	[ -f "$s" ] || continue
	echo "podboot firstboot: $s"
	"$s" || echo "podboot firstboot: $s failed: $?"
done
rm -f /etc/systemd/system/multi-user.target.wants/podboot-firstboot.service
`

const firstBootService = `[Unit]
Description=podboot first-boot scripts (kickstart %post and bash package)
After=network-online.target
Wants=network-online.target
ConditionPathExists=/etc/podboot/firstboot

[Service]
Type=oneshot
ExecStart=/etc/podboot/firstboot

[Install]
WantedBy=multi-user.target
`

// firstBoot installs %post sections and the bash package as scripts that run once on
// the first boot of the installed system (the agent never runs them itself: it has no
// shell, and they belong to the installed system's environment).
func (a *applier) firstBoot() error {
	n := 0
	for i, p := range a.ks.Posts {
		body := "#!" + p.Interpreter + "\n" + p.Body
		if err := a.write(fmt.Sprintf("%s/50-ks-post-%02d", FirstBootDir, i+1), 0o700, []byte(body)); err != nil {
			return err
		}
		n++
	}
	if a.in.BashPackage != nil {
		m, err := a.unpack(a.in.BashPackage)
		if err != nil {
			return fmt.Errorf("bash package: %w", err)
		}
		n += m
	}
	if n == 0 {
		return nil
	}
	if err := a.write(firstBootRun, 0o755, []byte(firstBootScript)); err != nil {
		return err
	}
	if err := a.write(firstBootUnit, 0o644, []byte(firstBootService)); err != nil {
		return err
	}
	if err := a.root.MkdirAll(path.Dir(firstBootWant), 0o755); err != nil {
		return err
	}
	_ = a.root.Remove(firstBootWant)
	return a.root.Symlink("/"+firstBootUnit, firstBootWant)
}

// unpack installs the regular files of a tar (or tar.gz) bash package, flattened into
// the first-boot directory as 60-pkg-NAME.
func (a *applier) unpack(r io.Reader) (int, error) {
	br := &peekReader{r: r}
	var src io.Reader = br
	if magic, _ := br.peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(io.LimitReader(src, maxPkgBytes))
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		base := path.Base(h.Name)
		if base == "." || base == "/" || strings.HasPrefix(base, ".") {
			continue
		}
		if n++; n > maxPkgFiles {
			return n, fmt.Errorf("more than %d files", maxPkgFiles)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return n, err
		}
		if err := a.write(FirstBootDir+"/60-pkg-"+base, 0o700, body); err != nil {
			return n, err
		}
	}
}

type peekReader struct {
	r   io.Reader
	buf []byte
}

func (p *peekReader) peek(n int) ([]byte, error) {
	for len(p.buf) < n {
		b := make([]byte, n-len(p.buf))
		m, err := p.r.Read(b)
		p.buf = append(p.buf, b[:m]...)
		if err != nil {
			return p.buf, err
		}
	}
	return p.buf[:n], nil
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.r.Read(b)
}
