// Package server assembles `podboot serve`: it opens the data dir (and so takes the
// single-instance lock), builds the manager and its registry, makes the HTTPS identity on
// first start, and runs every listener until the context ends, then drains them.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/podboot/podboot/internal/connlimit"
	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/imagesign"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/pxe"
	"github.com/podboot/podboot/pkg/replica"
	"github.com/podboot/podboot/pkg/vmedia"
)

// Files inside the data dir.
const (
	DBFile           = "podboot.db"
	PKIDir           = "pki"
	AdminTokenFile   = "admin.token"
	ClientConfigFile = "client.json"
)

// Server is a running podboot.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store podmgr.Store
	mgr   *podmgr.Manager
	prom  *prometheus.Registry
	api   *api.Server
	pki   *imagesign.PKI
	// health is what /healthz says (health.go).
	health *health
	// Ready is closed when every listener is bound.
	Ready chan struct{}
	// apiAddr is the bound management API address.
	apiAddr net.Addr
	// artifacts and boot are the artifact store and the boot service (boot.go).
	artifacts *artifact.Store
	boot      *pxe.Service
	// media are the published virtual-media ISOs (vmedia.go).
	media *vmedia.Images
	// leaseIP, when the DHCP service sets it, tells the boot service a host's leased
	// address (set it before openBoot runs).
	leaseIP func(pod, mac string) (netip.Addr, bool)
	// dhcpExchange, set with leaseIP, tells it a host's last relayed DHCP exchange.
	dhcpExchange func(pod, mac string) (pxe.Exchange, bool)
	// relays is what the DHCP service heard from relays, for the fleet view (fleet.go).
	relays fleet.Relays
	// services run beside the API (DHCP, boot); each serves until its context ends,
	// then drains and returns.
	services []service
	// apiLn and apiTLS are the bound management API listener and its TLS settings.
	apiLn  net.Listener
	apiTLS *tls.Config
	// own picks podboot's own HTTPS certificate per handshake (nil until first needed).
	own *ownCerts
	// members is this replica's membership with the etcd store (replica.go); nil on bbolt.
	members *replica.Membership
	// owner is this replica's pod ownership (replica.go); nil on bbolt or without DHCP.
	owner *replica.Ownership
	// ui is the web dashboard (web.go).
	ui http.Handler
	// undo holds what Open has opened so far, to close (last first) when a later step
	// fails; Run takes over once Open has succeeded.
	undo []undoStep
}

type undoStep struct {
	what  string
	close func() error
}

// onFailure registers how to close something Open just opened, should a later step fail.
func (s *Server) onFailure(what string, close func() error) {
	s.undo = append(s.undo, undoStep{what, close})
}

// undoOpen closes, last first, everything Open opened before it failed, so a failed
// start leaves no socket bound, no file open and the data dir unlocked.
func (s *Server) undoOpen() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		if err := s.undo[i].close(); err != nil {
			s.log.Warn("close after failed start-up", "what", s.undo[i].what, "err", err)
		}
	}
	s.undo = nil
}

type service struct {
	name  string
	serve func(context.Context) error
}

// addService registers a listener to run with the API.
func (s *Server) addService(name string, serve func(context.Context) error) {
	s.services = append(s.services, service{name, serve})
}

// Open prepares a server: data dir, store (lock), registry, PKI, bootstrap token, and
// binds every listener, so a busy port fails start-up at once. Nothing serves yet. When a
// step fails, Open closes what the steps before it opened.
func Open(ctx context.Context, cfg Config, log *slog.Logger, version string) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.DataDir, err)
	}
	fitStore(&cfg)
	st, err := openStore(ctx, cfg)
	if err != nil {
		if errors.Is(err, podmgr.ErrStoreLocked) {
			return nil, fmt.Errorf("data dir %s is held by another podboot serve; stop it first or use another --data-dir: %w", cfg.DataDir, err)
		}
		return nil, err
	}
	cfg.Events = cfg.Events.WithDefaults()
	if r, ok := st.(eventRetainer); ok {
		r.SetEventLimits(cfg.Events)
	}
	s := &Server{cfg: cfg, log: log, store: st, prom: prometheus.NewRegistry(), Ready: make(chan struct{})}
	s.onFailure("store", st.Close)
	defer func() {
		if err != nil {
			s.undoOpen()
		}
	}()
	// Before the CA, the admin token and the client config are written (first start).
	if err := checkPorts(cfg); err != nil {
		return nil, fmt.Errorf("serve cannot start (nothing written to %s): %w", cfg.DataDir, err)
	}
	start := time.Now()
	if s.mgr, err = podmgr.Open(ctx, st, log); err != nil {
		return nil, err
	}
	log.Info("store loaded", "store", cfg.Store.Kind, "pods", len(s.mgr.Registry().PodNames()), "hosts", s.mgr.Registry().HostCount(""), "took", time.Since(start).Round(time.Millisecond))
	if err := s.openPKI(); err != nil {
		return nil, err
	}
	s.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.prom.MustRegister(newRegistryCollector(s.mgr.Registry()))
	s.api = api.New(s.mgr, log, version)
	s.api.SetLimits(api.Limits{MaxBodyBytes: cfg.API.MaxBodyBytes, BulkBodyBytes: cfg.API.MaxBulkBodyBytes, BodyTimeout: cfg.API.BodyTimeout})
	s.prom.MustRegister(s.api.Collectors()...)
	s.addService("event retention", s.retainEvents)
	s.health = newHealth()
	s.prom.MustRegister(s.health.up)
	s.addService("store health", s.probeStore)
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	// Listeners and stores from here on; each step registers how to close what it opened.
	if err := s.openReplica(ctx); err != nil {
		return nil, err
	}
	for _, step := range []func() error{s.listenAPI, s.openDHCP, s.openArtifacts, s.openReplication, s.openImagePush, s.openBoot, s.openBMC, s.openFleet, s.openFleetViews} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	s.undo = nil
	return s, nil
}

// listenAPI binds the management API listener with its TLS settings.
// Defaults of the management API's connection caps (connlimit).
const (
	DefaultMaxConnsPerSource = 64
	DefaultMaxConns          = 1024
)

func (s *Server) listenAPI() error {
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("listen management API on %s: %w", s.cfg.API.Addr, err)
	}
	s.onFailure("management API listener", ln.Close)
	perSource, total := s.cfg.API.MaxConnsPerSource, s.cfg.API.MaxConns
	if perSource == 0 {
		perSource = DefaultMaxConnsPerSource
	}
	if total == 0 {
		total = DefaultMaxConns
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podboot_api_connections_refused_total",
		Help: "Management API connections closed at accept because a cap was reached (per_source or total).",
	}, []string{"cap"})
	s.prom.MustRegister(refused)
	lim := connlimit.New(ln, perSource, total, func(c string, _ netip.Addr) { refused.WithLabelValues(c).Inc() })
	s.apiLn, s.apiTLS, s.apiAddr = lim, tlsCfg, ln.Addr()
	return nil
}

// Manager is the pod manager (for services wired in beside the API).
func (s *Server) Manager() *podmgr.Manager { return s.mgr }

// API is the management API (other packages mount routes on it).
func (s *Server) API() *api.Server { return s.api }

// Metrics is the Prometheus registry the services add to.
func (s *Server) Metrics() prometheus.Registerer { return s.prom }

// PKI is podboot's CA in the data dir.
func (s *Server) PKI() *imagesign.PKI { return s.pki }

// APIAddr is the bound management API address (after Ready).
func (s *Server) APIAddr() net.Addr { return s.apiAddr }

func (s *Server) openPKI() error {
	dir := filepath.Join(s.cfg.DataDir, PKIDir)
	p, err := imagesign.OpenCA(dir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "ca.pem")); statErr == nil {
			return fmt.Errorf("open podboot CA: %w", err)
		}
		if p, err = imagesign.InitCA(dir, "podboot root CA", imagesign.KeyRSA); err != nil {
			return fmt.Errorf("create podboot CA: %w", err)
		}
		s.log.Info("created podboot CA", "dir", dir)
	}
	s.pki = p
	return nil
}

// tlsConfig is the management API's TLS: the operator's certificate (api.tlsCert), or
// podboot's own, chosen per handshake (owncert.go).
func (s *Server) tlsConfig() (*tls.Config, error) {
	if s.cfg.API.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.API.TLSCert, s.cfg.API.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load API certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	own, err := s.ownCertificates()
	if err != nil {
		return nil, fmt.Errorf("API certificate: %w", err)
	}
	return &tls.Config{GetCertificate: own.GetCertificate, MinVersion: tls.VersionTLS12}, nil
}

// ownCertificates makes (or renews) DATA_DIR/pki/server.pem for certNames on first use
// and returns the per-handshake certificate source built on it; the API and the boot
// service share it.
func (s *Server) ownCertificates() (*ownCerts, error) {
	if s.own != nil {
		return s.own, nil
	}
	certFile, keyFile, err := s.pki.EnsureServerCert(s.certNames())
	if err != nil {
		return nil, fmt.Errorf("make podboot's HTTPS certificate: %w", err)
	}
	if s.own, err = newOwnCerts(s.pki, certFile, keyFile, s.mgr.Registry(), s.log); err != nil {
		return nil, err
	}
	return s.own, nil
}

// certNames are the names podboot's default HTTPS certificate covers: loopback, the host
// name, api.names, and every pod's server address known at start-up (the stage1 agent
// connects to https://SERVER-ADDRESS and checks the certificate against its pinned CA).
// A pod server address added later gets its own certificate on demand (owncert.go).
func (s *Server) certNames() []string {
	names := append([]string{"localhost", "127.0.0.1", "::1"}, s.cfg.API.Names...)
	names = append(names, s.advertisedNames()...)
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, p := range s.mgr.Pods() {
		if !seen[p.ServerAddress] {
			seen[p.ServerAddress] = true
			names = append(names, p.ServerAddress)
		}
	}
	return names
}

// bootstrap writes an admin token and a client config on first start.
func (s *Server) bootstrap(ctx context.Context) error {
	if s.mgr.TokenCount() > 0 {
		return nil
	}
	secret, _, err := s.mgr.CreateToken(ctx, podmgr.Actor{Name: "podboot", Role: podmgr.RoleAdmin}, "admin", podmgr.RoleAdmin)
	if err != nil {
		return fmt.Errorf("create first admin token: %w", err)
	}
	tokFile := filepath.Join(s.cfg.DataDir, AdminTokenFile)
	if err := writeFileAtomic(tokFile, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	caPEM, err := os.ReadFile(s.pki.CACertFile())
	if err != nil {
		return fmt.Errorf("read CA certificate: %w", err)
	}
	cc := api.ClientConfig{Server: s.advertiseURL(), Token: secret, CACert: string(caPEM)}
	b, _ := json.MarshalIndent(cc, "", "  ")
	ccFile := filepath.Join(s.cfg.DataDir, ClientConfigFile)
	if err := writeFileAtomic(ccFile, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write client config: %w", err)
	}
	s.log.Info("first start: wrote an admin token and a client config", "token_file", tokFile, "client_config", ccFile,
		"hint", "export PODBOOT_CLIENT_CONFIG="+ccFile+" or pass --client-config to the CLI")
	return nil
}

func (s *Server) advertiseURL() string {
	if s.cfg.API.AdvertiseURL != "" {
		return s.cfg.API.AdvertiseURL
	}
	_, port, err := net.SplitHostPort(s.cfg.API.Addr)
	if err != nil || port == "" || port == "0" {
		port = "9443"
	}
	if _, err := strconv.Atoi(port); err != nil {
		port = "9443"
	}
	return "https://localhost:" + port
}

// Run serves until ctx ends, then drains every listener and closes the stores.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeStores()
	ln := s.apiLn
	mux := http.NewServeMux()
	mux.Handle("/api/", s.api.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", s.health.serveHTTP)
	s.mountUI(mux)
	hs := &http.Server{
		Handler:           s.api.BoundBodies(mux),
		TLSConfig:         s.apiTLS,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// Few streams per HTTP/2 connection: the per-source connection cap (connlimit.go)
		// then bounds the requests one source can hold open.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: 32},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("management API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	for _, svc := range s.services {
		svc := svc
		g.Go(func() error {
			if err := svc.serve(gctx); err != nil {
				return fmt.Errorf("%s: %w", svc.name, err)
			}
			return nil
		})
	}
	s.log.Info("podboot serving", "api", "https://"+ln.Addr().String(), "data_dir", s.cfg.DataDir)
	close(s.Ready)
	err := g.Wait()
	s.log.Info("podboot stopped")
	return err
}

// closeStores closes the artifact store and the database (and so unlocks the data dir)
// once every listener has drained.
func (s *Server) closeStores() {
	if s.artifacts != nil {
		if err := s.artifacts.Close(); err != nil {
			s.log.Warn("close artifact store", "err", err)
		}
	}
	if err := s.store.Close(); err != nil {
		s.log.Warn("close store", "err", err)
	}
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
