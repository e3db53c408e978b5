package pxe

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/podboot/podboot/artifacts"
	"github.com/podboot/podboot/internal/tmplcache"
	"github.com/podboot/podboot/pkg/podmgr"
)

// ScriptData is what an iPXE script template sees. The shipped template is
// artifacts/templates/ipxe.tmpl; a profile may bring its own (Profile.IPXEScript).
type ScriptData struct {
	Pod      string
	MAC      string // 52:54:00:12:34:56
	MACPath  string // 52-54-00-12-34-56
	Hostname string
	Profile  string
	// ServerAddress is the pod's advertised podboot address.
	ServerAddress string
	// ServerURL is podboot's HTTPS base URL for the agent (chain-load, kickstart, callbacks).
	ServerURL string
	// ServerURLs lists every replica's HTTPS URL, comma separated, with several replicas
	// (podboot.servers, the agent's failover list); empty with one.
	ServerURLs string
	// BootURL is the HTTP base URL of the host's files: BootURL + "/" + name.
	BootURL                string
	KernelURL, InitrdURL   string
	KernelName, InitrdName string
	KernelArgs             string
	// Stage2 is the profile's stage2 reference (name@version), for templates that pass it on.
	Stage2 string
	// Token is the host's one-time provisioning token; empty when none is issued.
	Token string
}

// localBootScript is what a host gets when it must not netboot: iPXE's exit returns to
// the firmware, which boots the next device (the installed disk).
const localBootScript = "#!ipxe\necho podboot: netboot is off for this host; booting from the local disk\nexit\n"

// scriptTemplates renders iPXE scripts from templates parsed once per distinct text.
type scriptTemplates struct{ cache *tmplcache.Cache }

const maxCachedTemplates = 256

func newScriptTemplates() (*scriptTemplates, error) {
	c, err := tmplcache.New(parseScript, artifacts.IPXETemplate(), maxCachedTemplates)
	if err != nil {
		return nil, fmt.Errorf("shipped iPXE template: %w", err)
	}
	return &scriptTemplates{cache: c}, nil
}

func parseScript(text string) (*template.Template, error) {
	return template.New("ipxe").Option("missingkey=error").Parse(text)
}

// render executes a profile's template and checks the result is an iPXE script.
func (c *scriptTemplates) render(p podmgr.Profile, d ScriptData) ([]byte, error) {
	t, err := c.cache.Get(p.IPXEScript)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(b.String(), "#!ipxe") {
		return nil, fmt.Errorf("line 1: the rendered script must start with #!ipxe")
	}
	return b.Bytes(), nil
}

// checkProfile is registered with the manager: a profile whose iPXE template does not
// parse or render is refused when it is saved, with the line and the reason that
// text/template reports (e.g. `template: ipxe:3: function "kernal" not defined`).
func (s *Service) checkProfile(p podmgr.Profile) error {
	d := ScriptData{Pod: "pod", MAC: "52:54:00:00:00:01", MACPath: "52-54-00-00-00-01", Hostname: "host", Profile: p.Name,
		ServerAddress: "192.0.2.1", ServerURL: "https://192.0.2.1:8443", BootURL: "http://192.0.2.1:8080/boot/pod/52-54-00-00-00-01",
		KernelURL: "http://192.0.2.1:8080/boot/pod/52-54-00-00-00-01/kernel", InitrdURL: "http://192.0.2.1:8080/boot/pod/52-54-00-00-00-01/initrd",
		KernelName: "kernel", InitrdName: "initrd", KernelArgs: p.KernelArgs, Stage2: p.Stage2, Token: "token"}
	if _, err := s.scripts.render(p, d); err != nil {
		return fmt.Errorf("ipxeScript does not render: %v", err)
	}
	return nil
}

// scriptData builds the template input for a host.
func (s *Service) scriptData(t target, token string) ScriptData {
	server := t.pc.Pod.ServerAddress
	if s.cfg.Replicas != nil {
		// One pod serverAddress cannot be three replicas: the kernel and initrd come from
		// the replica that rendered the script, where its DHCP answer sent the host.
		self, _ := s.cfg.Replicas()
		if u, err := url.Parse(self); err == nil && u.Hostname() != "" {
			server = u.Hostname()
		}
	}
	boot := podmgr.HTTPURL(server, s.httpPort, strings.TrimSuffix(podmgr.HTTPBootPath(t.pc.Pod.Name, t.host.MAC, ""), "/"))
	kname, _, _ := strings.Cut(t.prof.Kernel, "@")
	iname, _, _ := strings.Cut(t.prof.Initrd, "@")
	serverURL, urls := s.AgentURLs(server)
	serverURLs := strings.Join(urls, ",")
	return ScriptData{
		Pod: t.pc.Pod.Name, MAC: t.host.MAC, MACPath: podmgr.MACPath(t.host.MAC), Hostname: t.host.Hostname, Profile: t.prof.Name,
		ServerAddress: server, ServerURL: serverURL, ServerURLs: serverURLs, BootURL: boot,
		KernelURL: boot + "/" + kname, InitrdURL: boot + "/" + iname, KernelName: kname, InitrdName: iname,
		KernelArgs: t.prof.KernelArgs, Stage2: t.prof.Stage2, Token: token,
	}
}
