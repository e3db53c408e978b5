package provision

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Config tunes provisioning.
type Config struct {
	// TokenTTL is how long a per-host provisioning token is valid (default 2h).
	TokenTTL time.Duration `yaml:"tokenTTL"`
	// AgentEventsPerMinute is how many progress events one host's agent may post a
	// minute (default 60); more are answered 429.
	AgentEventsPerMinute int `yaml:"agentEventsPerMinute"`
}

// Service serves the agent API and the provisioning management routes.
type Service struct {
	cfg   Config
	mgr   *podmgr.Manager
	reg   *podmgr.Registry
	store *artifact.Store
	log   *slog.Logger
	ks    *kickstartTemplates
	// events rate-limits agent events per host.
	events *hostLimiter
	// owner, when set, limits writes to the pods this replica owns (owner.go).
	owner Owner
}

// New builds the service. store is the artifact store stage2 images and bash packages
// are served from.
func New(cfg Config, mgr *podmgr.Manager, store *artifact.Store, log *slog.Logger) (*Service, error) {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = podmgr.DefaultHostTokenTTL
	}
	if cfg.TokenTTL < time.Minute {
		return nil, fmt.Errorf("provision: tokenTTL %s is too short: use at least 1m (default 2h)", cfg.TokenTTL)
	}
	if cfg.AgentEventsPerMinute < 0 {
		return nil, fmt.Errorf("provision: agentEventsPerMinute %d must not be negative (0 means the default %d)", cfg.AgentEventsPerMinute, DefaultAgentEventsPerMinute)
	}
	if cfg.AgentEventsPerMinute == 0 {
		cfg.AgentEventsPerMinute = DefaultAgentEventsPerMinute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ks, err := newKickstartTemplates()
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, mgr: mgr, reg: mgr.Registry(), store: store, log: log.With("component", "provision"), ks: ks,
		events: newHostLimiter(cfg.AgentEventsPerMinute)}
	mgr.AddProfileCheck(s.checkProfile)
	return s, nil
}

// HostToken issues the token rendered into a host's iPXE script (pxe.Config.HostToken)
// and records step, the script's event, in the same commit.
func (s *Service) HostToken(ctx context.Context, h podmgr.Host, step podmgr.HostStep) (string, error) {
	if err := s.notOwner(h.Pod); err != nil {
		return "", err
	}
	tok, err := s.mgr.IssueHostTokenWith(ctx, h.MAC, "", s.cfg.TokenTTL, step, s.guards()...)
	if err != nil {
		return "", fmt.Errorf("issue provisioning token for %s: %w", h.MAC, err)
	}
	return tok, nil
}

// Handler is the agent API, to be mounted at agentproto.Prefix on an HTTPS listener only.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	base := agentproto.Prefix + "hosts/{mac}/"
	mux.HandleFunc("GET "+base+agentproto.ChainloadPath, s.agent(s.owned(s.chainload)))
	mux.HandleFunc("GET "+base+agentproto.Stage2Path, s.agent(s.accepted(s.stage2)))
	mux.HandleFunc("GET "+base+agentproto.SignaturePath, s.agent(s.accepted(s.signature)))
	mux.HandleFunc("GET "+base+agentproto.KickstartPath, s.agent(s.owned(s.accepted(s.kickstart))))
	mux.HandleFunc("GET "+base+agentproto.PackagePath, s.agent(s.accepted(s.bashPackage)))
	mux.HandleFunc("POST "+base+agentproto.EventsPath, s.agent(s.owned(s.event)))
	mux.HandleFunc("POST "+base+agentproto.InstalledPath, s.agent(s.owned(s.accepted(s.installed))))
	mux.HandleFunc("POST "+base+agentproto.FailedPath, s.agent(s.owned(s.failed)))
	mux.HandleFunc("POST "+base+agentproto.InventoryPath, s.agent(s.owned(s.inventory)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return mux
}
