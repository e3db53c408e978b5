package pxe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Service is the boot service. New binds its listeners (so a busy port fails start-up
// at once, and tests can ask for the bound addresses); Serve serves until its context ends.
type Service struct {
	cfg     Config
	mgr     *podmgr.Manager
	reg     *podmgr.Registry
	store   *artifact.Store
	log     *slog.Logger
	m       *metrics
	scripts *scriptTemplates

	httpPort, httpsPort int

	tftpConn  *net.UDPConn
	tftpSrv   *tftp.Server
	tftpSlots chan struct{}
	httpLn    net.Listener
	httpsLn   net.Listener
	httpSrv   *http.Server
	httpsSrv  *http.Server
}

// New builds the boot service, binds its listeners and registers the profile template
// check with mgr. reg may be nil (metrics then go to a private registry).
func New(cfg Config, mgr *podmgr.Manager, store *artifact.Store, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("boot: register metrics: %w", err)
	}
	scripts, err := newScriptTemplates()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	s := &Service{cfg: cfg, mgr: mgr, reg: mgr.Registry(), store: store, log: log.With("component", "boot"), m: m, scripts: scripts,
		tftpSlots: make(chan struct{}, cfg.MaxTFTPTransfers)}
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	mgr.AddProfileCheck(s.checkProfile)
	return s, nil
}

func (s *Service) listen() error {
	var err error
	if s.cfg.TFTPAddr != Disabled {
		ua, err := net.ResolveUDPAddr("udp", s.cfg.TFTPAddr)
		if err != nil {
			return fmt.Errorf("boot: tftp address %q: %w", s.cfg.TFTPAddr, err)
		}
		if s.tftpConn, err = net.ListenUDP("udp", ua); err != nil {
			return fmt.Errorf("boot: listen tftp %s: %w", s.cfg.TFTPAddr, err)
		}
		s.tftpSrv = s.newTFTPServer()
	}
	if s.cfg.HTTPAddr != Disabled {
		if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("boot: listen http %s: %w", s.cfg.HTTPAddr, err)
		}
		s.httpSrv = s.newHTTPServer()
		s.httpPort = portOf(s.httpLn.Addr())
	}
	if s.cfg.HTTPSAddr != Disabled && s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("boot: load TLS certificate: %w", err)
		}
		ln, err := net.Listen("tcp", s.cfg.HTTPSAddr)
		if err != nil {
			return fmt.Errorf("boot: listen https %s: %w", s.cfg.HTTPSAddr, err)
		}
		s.httpsSrv = s.newHTTPServer()
		s.httpsSrv.Handler = s.httpsHandler()
		s.httpsSrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		s.httpsLn = tls.NewListener(ln, s.httpsSrv.TLSConfig)
		s.httpsPort = portOf(ln.Addr())
	}
	if s.cfg.AdvertiseHTTPPort != 0 {
		s.httpPort = s.cfg.AdvertiseHTTPPort
	}
	if s.cfg.AdvertiseHTTPSPort != 0 {
		s.httpsPort = s.cfg.AdvertiseHTTPSPort
	} else if s.httpsPort == 0 {
		s.httpsPort = configuredPort(s.cfg.HTTPSAddr) // HTTPS off here: URLs still name the usual port
	}
	return nil
}

func portOf(a net.Addr) int {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}

// configuredPort is the port of a listen address, 0 when it has none.
func configuredPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func (s *Service) closeListeners() {
	for _, c := range []interface{ Close() error }{s.tftpConnCloser(), s.httpLn, s.httpsLn} {
		if c != nil {
			c.Close()
		}
	}
}

func (s *Service) tftpConnCloser() interface{ Close() error } {
	if s.tftpConn == nil {
		return nil
	}
	return s.tftpConn
}

// TFTPAddr, HTTPAddr and HTTPSAddr are the bound addresses (nil when disabled).
func (s *Service) TFTPAddr() net.Addr {
	if s.tftpConn == nil {
		return nil
	}
	return s.tftpConn.LocalAddr()
}

// HTTPAddr is the bound plain HTTP address.
func (s *Service) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// HTTPSAddr is the bound HTTPS address.
func (s *Service) HTTPSAddr() net.Addr {
	if s.httpsLn == nil {
		return nil
	}
	return s.httpsLn.Addr()
}

// httpsHandler is Handler plus the agent API under /agent/: HTTPS only, since agent
// requests carry provisioning tokens that must never travel in the clear.
func (s *Service) httpsHandler() http.Handler {
	boot := s.Handler()
	if s.cfg.AgentHandler == nil {
		return boot
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/agent/") {
			s.cfg.AgentHandler.ServeHTTP(w, r)
			return
		}
		boot.ServeHTTP(w, r)
	})
}

// Handler is the boot HTTP handler (the same on HTTP and HTTPS), for mounting elsewhere.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Serve serves TFTP, HTTP and HTTPS until ctx ends, then stops accepting, drains
// transfers in flight (at most DrainTimeout for HTTP; TFTP transfers end within their
// retransmit timeouts) and returns nil. A listener failure stops all and is returned.
func (s *Service) Serve(ctx context.Context) error {
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	start := func(name string, run func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("boot: %s: %w", name, err)
			}
		}()
	}
	if s.tftpSrv != nil {
		start("tftp", func() error { return s.tftpSrv.Serve(s.tftpConn) })
		s.log.Info("tftp listening", "addr", s.tftpConn.LocalAddr().String(), "blksize_cap", s.cfg.TFTPBlockSize, "max_transfers", s.cfg.MaxTFTPTransfers)
	}
	if s.httpSrv != nil {
		start("http", func() error { return s.httpSrv.Serve(s.httpLn) })
		s.log.Info("http listening", "addr", s.httpLn.Addr().String())
	}
	if s.httpsSrv != nil {
		start("https", func() error { return s.httpsSrv.Serve(s.httpsLn) })
		s.log.Info("https listening", "addr", s.httpsLn.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.shutdown()
	wg.Wait()
	return err
}

func (s *Service) shutdown() {
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{s.httpSrv, s.httpsSrv} {
		if srv == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(dctx); err != nil {
				srv.Close()
			}
		}()
	}
	if s.tftpSrv != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.tftpSrv.Shutdown() }()
	}
	wg.Wait()
}

// recordEvent writes a host event. It runs in the handler after the body was handed to
// the connection, so by the time a client has the whole file the step is on record.
func (s *Service) recordEvent(src, action, detail string, t target, state podmgr.HostState) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.mgr.RecordHostEvent(ctx, t.host.MAC, src, action, detail, podmgr.HostUpdate{State: state}); err != nil {
		s.log.Warn("record host event", "pod", t.pc.Pod.Name, "host", t.host.MAC, "action", action, "err", err)
	}
}
