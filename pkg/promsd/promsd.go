// Package promsd answers Prometheus HTTP service discovery
// (GET /api/v1/sd/prometheus): one target group per provisioned host, at its management
// address and its profile's exporter port, labelled with where it lives and what it
// runs. podboot is the one place that knows which hosts it installed and where, so a
// central Prometheus learns its scrape targets from it instead of from a hand-kept list.
package promsd

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// DefaultPort is the exporter port of a host whose profile names none (node_exporter's).
const DefaultPort = 9100

// Config chooses the exporter port per profile.
type Config struct {
	// Port is the exporter port of hosts whose profile is not in ProfilePorts (default 9100).
	Port int `yaml:"port"`
	// ProfilePorts maps a profile name to its hosts' exporter port.
	ProfilePorts map[string]int `yaml:"profilePorts"`
}

// Validate checks every port.
func (c Config) Validate() error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("prometheusSD.port %d: use 1-65535 (0: %d)", c.Port, DefaultPort)
	}
	for name, p := range c.ProfilePorts {
		if p < 1 || p > 65535 {
			return fmt.Errorf("prometheusSD.profilePorts.%s: port %d: use 1-65535", name, p)
		}
	}
	return nil
}

// port is the exporter port of a host booted with profile.
func (c Config) port(profile string) int {
	if p, ok := c.ProfilePorts[profile]; ok {
		return p
	}
	if c.Port > 0 {
		return c.Port
	}
	return DefaultPort
}

// Stage2Resolver names the artifact (name@version) an image reference resolves to now.
type Stage2Resolver func(ref string) (string, bool)

// Service serves the discovery route.
type Service struct {
	cfg    Config
	reg    *podmgr.Registry
	stage2 Stage2Resolver
	log    *slog.Logger
}

// New returns the service; stage2 may be nil (labels then carry the profile's reference).
func New(cfg Config, reg *podmgr.Registry, stage2 Stage2Resolver, log *slog.Logger) *Service {
	return &Service{cfg: cfg, reg: reg, stage2: stage2, log: log}
}

// Routes are the API routes to mount: readers (viewer, operator; admin) may discover.
// A Prometheus gets a viewer token of its own (podboot token create prometheus --role viewer).
func (s *Service) Routes() []api.Route {
	return []api.Route{{Method: "GET", Path: "/api/v1/sd/prometheus", Allow: api.Readers(), Handler: s.serve}}
}

// TargetGroup is one entry of the HTTP SD answer.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// The labels of a target group. Plain labels are attached to every series scraped from
// the host; the __meta_ ones are for relabelling only (a timestamp or a MAC on every
// series would multiply nothing but storage).
const (
	LabelPod           = "pod"
	LabelHostname      = "hostname"
	LabelProfile       = "profile"
	LabelStage2Version = "stage2_version"
	MetaMAC            = "__meta_podboot_mac"
	MetaProvisionedAt  = "__meta_podboot_provisioned_at"
	MetaStage2         = "__meta_podboot_stage2"
)

// serve answers the target groups of every provisioned host with a management address,
// or of one pod's (?pod=NAME): a Prometheus per site can ask for its pod only.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	pods := s.reg.PodNames()
	if p := r.URL.Query().Get("pod"); p != "" {
		if _, ok := s.reg.Pod(p); !ok {
			api.WriteError(w, http.StatusNotFound, fmt.Errorf("%w: pod %s", podmgr.ErrNotFound, api.Quote(p)))
			return
		}
		pods = []string{p}
	}
	out := []TargetGroup{}
	for _, pod := range pods {
		page := s.reg.HostsPage(pod, discoverable, 0, 0)
		for _, h := range page.Hosts {
			out = append(out, s.group(h))
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// discoverable hosts are provisioned and have an address to scrape.
func discoverable(h *podmgr.Host) bool {
	return h.State == podmgr.StateProvisioned && h.ManagementIP != ""
}

// group is h's target group. provisioned_at is when the host record last changed, which
// for a provisioned host is its "installed" call-back (nothing moves a provisioned host
// without a new install, but a netboot toggle by an operator also counts).
func (s *Service) group(h podmgr.Host) TargetGroup {
	prof, _ := s.reg.EffectiveProfile(h)
	labels := map[string]string{
		LabelPod:          h.Pod,
		LabelHostname:     h.Hostname,
		LabelProfile:      prof.Name,
		MetaMAC:           h.MAC,
		MetaProvisionedAt: h.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if prof.Stage2 != "" {
		ref := prof.Stage2
		if s.stage2 != nil {
			if resolved, ok := s.stage2(ref); ok {
				ref = resolved
			}
		}
		labels[MetaStage2] = ref
		labels[LabelStage2Version] = versionOf(ref)
	}
	target := net.JoinHostPort(h.ManagementIP, strconv.Itoa(s.cfg.port(prof.Name)))
	return TargetGroup{Targets: []string{target}, Labels: labels}
}

// versionOf is the version part of name@version ("" for a bare name).
func versionOf(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '@' {
			return ref[i+1:]
		}
	}
	return ""
}
