package provision

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"text/template"

	"github.com/podboot/podboot/artifacts"
	"github.com/podboot/podboot/internal/tmplcache"
	"github.com/podboot/podboot/pkg/agent/kickstart"
	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// KickstartData is what a kickstart template sees. The shipped template is
// artifacts/templates/kickstart.tmpl; a profile may bring its own (Profile.Kickstart).
type KickstartData struct {
	Pod, MAC string
	// Hostname is the host's name; FQDN adds the management domain when it has none.
	Hostname, FQDN string
	// ServerURL is the HTTPS base the agent reached podboot at.
	ServerURL string
	Stage2    Stage2Data
	// Mgmt is the host's management network (the network split: not the provisioning
	// network it is booting on).
	Mgmt             MgmtData
	SSHKeys          []string
	RootPasswordHash string
	TargetDisk       string
}

// Stage2Data names the image the kickstart installs.
type Stage2Data struct{ Ref, URL, SHA256 string }

// MgmtData is the management network of one host. Address is empty when the host has
// no management address (the template then configures DHCP).
type MgmtData struct {
	Address, Netmask, Gateway, Domain, CIDR string
	Prefix, VLAN                            int
	DNS                                     []string
}

// DefaultKickstartTemplate is the shipped kickstart template.
func DefaultKickstartTemplate() string {
	b, err := artifacts.Templates.ReadFile("templates/kickstart.tmpl")
	if err != nil {
		panic("artifacts: embedded templates/kickstart.tmpl missing: " + err.Error())
	}
	return string(b)
}

var funcs = template.FuncMap{"join": strings.Join}

// kickstartTemplates renders kickstarts from templates parsed once per distinct text.
type kickstartTemplates struct{ cache *tmplcache.Cache }

const maxCachedTemplates = 256

func parseKickstart(text string) (*template.Template, error) {
	return template.New("kickstart").Funcs(funcs).Option("missingkey=error").Parse(text)
}

func newKickstartTemplates() (*kickstartTemplates, error) {
	c, err := tmplcache.New(parseKickstart, DefaultKickstartTemplate(), maxCachedTemplates)
	if err != nil {
		return nil, fmt.Errorf("shipped kickstart template: %w", err)
	}
	return &kickstartTemplates{cache: c}, nil
}

// renderData executes a profile's template and parses the result with the agent's own
// parser, so a template that would fail on the host fails here, with the line.
// Every value must be one line (see oneLine): the input checks refuse line breaks, and
// this is the second wall, for values stored before those checks or set elsewhere.
func (k *kickstartTemplates) renderData(text string, d KickstartData) ([]byte, error) {
	if err := d.oneLine(); err != nil {
		return nil, err
	}
	t, err := k.cache.Get(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	if _, err := kickstart.Parse(bytes.NewReader(b.Bytes())); err != nil {
		return nil, fmt.Errorf("the rendered kickstart does not parse: %w", err)
	}
	return b.Bytes(), nil
}

// oneLine refuses a value with a line break or another control character: rendered
// into a kickstart line it could start a line of its own, such as a %post section.
func (d KickstartData) oneLine() error {
	vals := []struct{ field, v string }{
		{"pod", d.Pod}, {"mac", d.MAC}, {"hostname", d.Hostname}, {"fqdn", d.FQDN}, {"server URL", d.ServerURL},
		{"stage2 ref", d.Stage2.Ref}, {"stage2 URL", d.Stage2.URL}, {"stage2 sha256", d.Stage2.SHA256},
		{"management address", d.Mgmt.Address}, {"management netmask", d.Mgmt.Netmask}, {"management gateway", d.Mgmt.Gateway},
		{"management domain", d.Mgmt.Domain}, {"management cidr", d.Mgmt.CIDR},
		{"rootPasswordHash", d.RootPasswordHash}, {"targetDisk", d.TargetDisk},
	}
	for i, v := range d.Mgmt.DNS {
		vals = append(vals, struct{ field, v string }{fmt.Sprintf("management dns[%d]", i), v})
	}
	for i, v := range d.SSHKeys {
		vals = append(vals, struct{ field, v string }{fmt.Sprintf("sshKeys[%d]", i), v})
	}
	for _, f := range vals {
		if i := strings.IndexFunc(f.v, isControl); i >= 0 {
			return fmt.Errorf("kickstart value %s has a control character (%q) at byte %d: refusing to render it, it could start a kickstart line of its own", f.field, f.v[i], i)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Data builds the template input for a host.
func Data(pc *podmgr.PodContext, h podmgr.Host, stage2 artifact.Artifact, serverURL string) KickstartData {
	m := pc.Pod.Management
	d := KickstartData{
		Pod: pc.Pod.Name, MAC: h.MAC, Hostname: h.Hostname, ServerURL: serverURL,
		Stage2: Stage2Data{Ref: stage2.Ref(), SHA256: stage2.Digest,
			URL: strings.TrimSuffix(serverURL, "/") + agentproto.HostPath(h.MAC) + agentproto.Stage2Path},
		SSHKeys: pc.Pod.Kickstart.SSHKeys, RootPasswordHash: pc.Pod.Kickstart.RootPasswordHash, TargetDisk: pc.Pod.Kickstart.TargetDisk,
		Mgmt: MgmtData{Gateway: m.Gateway, VLAN: m.VLAN, DNS: m.DNS, Domain: m.Domain, CIDR: m.CIDR},
	}
	d.FQDN = d.Hostname
	if d.FQDN != "" && !strings.Contains(d.FQDN, ".") && m.Domain != "" {
		d.FQDN += "." + m.Domain
	}
	if h.ManagementIP != "" {
		d.Mgmt.Address = h.ManagementIP
		if p, err := netip.ParsePrefix(m.CIDR); err == nil {
			d.Mgmt.Prefix = p.Bits()
			d.Mgmt.Netmask = net.IP(net.CIDRMask(p.Bits(), 32)).String()
		} else {
			d.Mgmt.Prefix, d.Mgmt.Netmask = 32, "255.255.255.255"
		}
	}
	return d
}

func (s *Service) render(c call, stage2 artifact.Artifact, serverURL string) ([]byte, error) {
	return s.ks.renderData(c.prof.Kickstart, Data(c.pc, c.host, stage2, serverURL))
}

// checkProfile refuses a profile whose kickstart template does not render to a
// kickstart the agent can parse.
func (s *Service) checkProfile(p podmgr.Profile) error {
	if p.Kickstart == "" {
		return nil
	}
	d := KickstartData{Pod: "pod", MAC: "52:54:00:00:00:01", Hostname: "host", FQDN: "host.example", ServerURL: "https://192.0.2.1:8443",
		Stage2:     Stage2Data{Ref: "os@1", URL: "https://192.0.2.1:8443/x", SHA256: strings.Repeat("0", 64)},
		Mgmt:       MgmtData{Address: "192.0.2.10", Netmask: "255.255.255.0", Prefix: 24, Gateway: "192.0.2.1", VLAN: 10, DNS: []string{"192.0.2.53"}, CIDR: "192.0.2.0/24"},
		SSHKeys:    []string{"ssh-ed25519 AAAA test"},
		TargetDisk: "vda", RootPasswordHash: "$6$x$y"}
	if _, err := s.ks.renderData(p.Kickstart, d); err != nil {
		return fmt.Errorf("kickstart does not render: %v", err)
	}
	return nil
}
