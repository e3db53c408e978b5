// Package kickstart parses and applies the subset of kickstart that podboot's stage1
// agent understands (SPEC section 5).
//
// The kickstart is rendered by the server from an operator's template, so the agent
// treats it as untrusted text: the parser never executes anything, bounds what it
// keeps, and reports every command it does not understand as a warning instead of
// dropping it, so an operator sees in the host's events what was not applied.
// Applying writes files below a root directory (the mounted stage2 root file system)
// and never outside it.
package kickstart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kickstart is the understood part of a kickstart file.
type Kickstart struct {
	// Disk is ignoredisk --only-use (the target disk); empty when not given.
	Disk string
	// LiveImg is liveimg --url --checksum.
	LiveImg *LiveImg
	// Networks are the network lines, in order.
	Networks []Network
	// RootPasswordHash is rootpw --iscrypted HASH; RootLocked is rootpw --lock.
	RootPasswordHash string
	RootLocked       bool
	// SSHKeys are sshkey --username=USER "KEY" lines.
	SSHKeys []SSHKey
	// Posts are the %post sections.
	Posts []Script
	// Finish is what to do at the end: "reboot" (the default) or "poweroff".
	Finish string
	// Warnings name every line that was not understood or not applied.
	Warnings []Warning
}

// LiveImg is the stage2 image the kickstart expects.
type LiveImg struct {
	URL string
	// Checksum is the hex SHA-256 of --checksum=sha256:HEX (lower case); empty if none.
	Checksum string
}

// Network is one network line.
type Network struct {
	Device     string // interface name or MAC address
	BootProto  string // static or dhcp
	IP         string
	Prefix     int // from --netmask or --prefix; 0 when not static
	Gateway    string
	Nameserver []string
	VLAN       int
	Hostname   string
}

// SSHKey is an authorized key for a user.
type SSHKey struct {
	User string
	Key  string
}

// Script is a %post section.
type Script struct {
	Interpreter string
	Body        string
}

// Warning is a line the agent does not apply.
type Warning struct {
	Line int
	Text string
}

func (w Warning) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Text) }

// Limits keep a hostile kickstart from growing the agent's memory without bound.
const (
	MaxSize     = 1 << 20
	maxLine     = 64 << 10
	maxWarnings = 100
)

// ErrTooLarge says the kickstart exceeds MaxSize.
var ErrTooLarge = errors.New("kickstart is larger than 1 MiB")

// Parse reads a kickstart. Only malformed known commands and oversize input are errors;
// unknown commands and sections become warnings.
func Parse(r io.Reader) (*Kickstart, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read kickstart: %w", err)
	}
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	ks := &Kickstart{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	var section *Script
	var sectionName string
	var body strings.Builder
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		trim := strings.TrimSpace(line)
		if sectionName != "" {
			if trim == "%end" {
				if section != nil {
					section.Body = body.String()
					ks.Posts = append(ks.Posts, *section)
				}
				section, sectionName = nil, ""
				body.Reset()
				continue
			}
			if section != nil {
				body.WriteString(line)
				body.WriteByte('\n')
			}
			continue
		}
		if trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		args, err := split(trim)
		if err != nil {
			return nil, fmt.Errorf("kickstart line %d: %w", n, err)
		}
		if len(args) == 0 {
			continue
		}
		if strings.HasPrefix(args[0], "%") {
			sectionName = args[0]
			if args[0] == "%post" {
				s, err := parsePost(args[1:])
				if err != nil {
					return nil, fmt.Errorf("kickstart line %d: %w", n, err)
				}
				section = &s
			} else {
				ks.warn(n, fmt.Sprintf("section %s is not supported; its body is ignored", args[0]))
			}
			continue
		}
		if err := ks.command(n, args); err != nil {
			return nil, fmt.Errorf("kickstart line %d: %s: %w", n, args[0], err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kickstart line %d: %w", n+1, err)
	}
	if sectionName != "" {
		return nil, fmt.Errorf("kickstart: section %s is not closed with %%end", sectionName)
	}
	if ks.Finish == "" {
		ks.Finish = "reboot"
	}
	return ks, nil
}

func (ks *Kickstart) warn(line int, text string) {
	if len(ks.Warnings) < maxWarnings {
		ks.Warnings = append(ks.Warnings, Warning{Line: line, Text: text})
	}
}

func (ks *Kickstart) command(n int, args []string) error {
	opts, pos := options(args[1:])
	switch args[0] {
	case "ignoredisk":
		d, ok := opts["only-use"]
		if !ok || d == "" {
			return errors.New("only --only-use=DISK is supported")
		}
		ks.Disk = strings.TrimPrefix(d, "/dev/")
		if strings.ContainsAny(ks.Disk, "/,") {
			return fmt.Errorf("--only-use=%q: name one disk, e.g. vda", d)
		}
	case "liveimg":
		li := &LiveImg{URL: opts["url"]}
		if li.URL == "" {
			return errors.New("--url is required")
		}
		if c, ok := opts["checksum"]; ok {
			hex, ok := strings.CutPrefix(strings.ToLower(c), "sha256:")
			if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
				return fmt.Errorf("--checksum=%q: use sha256:HEX (64 hex digits)", c)
			}
			li.Checksum = hex
		}
		ks.LiveImg = li
	case "network":
		nw, err := parseNetwork(opts)
		if err != nil {
			return err
		}
		ks.Networks = append(ks.Networks, nw)
	case "rootpw":
		switch {
		case has(opts, "lock") && len(pos) == 0:
			ks.RootLocked = true
		case has(opts, "iscrypted") && len(pos) == 1:
			ks.RootPasswordHash = pos[0]
		default:
			return errors.New("use rootpw --iscrypted HASH (plain-text passwords are refused) or rootpw --lock")
		}
	case "sshkey":
		user := opts["username"]
		if user == "" || len(pos) != 1 || validUser(user) != nil {
			return errors.New(`use sshkey --username=USER "KEY"`)
		}
		ks.SSHKeys = append(ks.SSHKeys, SSHKey{User: user, Key: pos[0]})
	case "reboot", "poweroff", "shutdown", "halt":
		ks.Finish = "reboot"
		if args[0] != "reboot" {
			ks.Finish = "poweroff"
		}
	case "text", "cmdline", "skipx", "firstboot", "eula":
		// Installer UI settings: meaningless for the agent, and harmless.
	default:
		ks.warn(n, fmt.Sprintf("command %q is not supported by the podboot agent and was not applied", args[0]))
	}
	return nil
}

func has(opts map[string]string, k string) bool { _, ok := opts[k]; return ok }

// options splits --key=value and --flag arguments from positional ones.
func options(args []string) (map[string]string, []string) {
	opts := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, ok := strings.CutPrefix(a, "--"); ok {
			k, v, _ := strings.Cut(k, "=")
			opts[k] = v
			continue
		}
		pos = append(pos, a)
	}
	return opts, pos
}

func parsePost(args []string) (Script, error) {
	s := Script{Interpreter: "/bin/sh"}
	opts, pos := options(args)
	if len(pos) > 0 {
		return s, fmt.Errorf("%%post: unexpected %q", pos[0])
	}
	for k, v := range opts {
		switch k {
		case "interpreter":
			if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t") {
				return s, fmt.Errorf("%%post --interpreter=%q: give an absolute path", v)
			}
			s.Interpreter = v
		case "erroronfail", "log", "nochroot":
			// accepted; first-boot scripts run in the installed system anyway
		default:
			return s, fmt.Errorf("%%post: option --%s is not supported", k)
		}
	}
	return s, nil
}

func parseNetwork(opts map[string]string) (Network, error) {
	nw := Network{Device: opts["device"], BootProto: opts["bootproto"], IP: opts["ip"], Gateway: opts["gateway"], Hostname: opts["hostname"]}
	if nw.BootProto == "" {
		nw.BootProto = "dhcp"
	}
	if nw.BootProto != "dhcp" && nw.BootProto != "static" {
		return nw, fmt.Errorf("--bootproto=%s: use static or dhcp", nw.BootProto)
	}
	if ns := opts["nameserver"]; ns != "" {
		nw.Nameserver = strings.Split(ns, ",")
	}
	if v := opts["vlanid"]; v != "" {
		id, err := strconv.Atoi(v)
		if err != nil || id < 1 || id > 4094 {
			return nw, fmt.Errorf("--vlanid=%s: use 1-4094", v)
		}
		nw.VLAN = id
	}
	if nw.Hostname != "" && validHostname(nw.Hostname) != nil {
		return nw, fmt.Errorf("--hostname=%q is not a valid host name", nw.Hostname)
	}
	if nw.BootProto == "static" {
		if _, err := parseIPv4(nw.IP); err != nil {
			return nw, fmt.Errorf("--ip: %w", err)
		}
		switch {
		case opts["prefix"] != "":
			p, err := strconv.Atoi(opts["prefix"])
			if err != nil || p < 1 || p > 32 {
				return nw, fmt.Errorf("--prefix=%s: use 1-32", opts["prefix"])
			}
			nw.Prefix = p
		case opts["netmask"] != "":
			p, err := maskPrefix(opts["netmask"])
			if err != nil {
				return nw, fmt.Errorf("--netmask: %w", err)
			}
			nw.Prefix = p
		default:
			return nw, errors.New("static needs --netmask or --prefix")
		}
		if nw.Gateway != "" {
			if _, err := parseIPv4(nw.Gateway); err != nil {
				return nw, fmt.Errorf("--gateway: %w", err)
			}
		}
		for _, ns := range nw.Nameserver {
			if _, err := parseIPv4(ns); err != nil {
				return nw, fmt.Errorf("--nameserver: %w", err)
			}
		}
	}
	return nw, nil
}

// split cuts a line into words with shell-like double and single quotes.
func split(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#' && !inWord:
			return out, nil
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
