package pxe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podboot/podboot/internal/ratelog"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Service is the boot service. New binds its listeners (so a busy port fails start-up
// at once, and tests can ask for the bound addresses); Serve serves until its context
// ends; Close releases the listeners of a service that is not served.
type Service struct {
	cfg     Config
	mgr     *podmgr.Manager
	reg     *podmgr.Registry
	store   *artifact.Store
	log     *slog.Logger
	m       *metrics
	scripts *scriptTemplates
	grub    *template.Template // per-host grub.cfg (grub.go)
	tokens  *tokenGate

	httpPort, httpsPort int

	tftpConn  *net.UDPConn
	tftpSrv   *tftp.Server
	tftpSlots *tftpSlots
	httpLn    net.Listener
	httpsLn   net.Listener
	httpSrv   *http.Server
	httpsSrv  *http.Server

	// busyLog and connLog rate-limit the logs of refusals that come in floods.
	busyLog, connLog ratelog.Limiter

	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
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
	slots := newTFTPSlots(cfg.MaxTFTPTransfers, cfg.MaxTFTPPerSource, cfg.MaxTFTPPerPod)
	m, err := newMetrics(reg, func() float64 { return float64(slots.inUse()) })
	if err != nil {
		return nil, fmt.Errorf("boot: register metrics: %w", err)
	}
	scripts, err := newScriptTemplates()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	grub, err := parseGrubTemplate()
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	s := &Service{cfg: cfg, mgr: mgr, reg: mgr.Registry(), store: store, log: log.With("component", "boot"), m: m, scripts: scripts, grub: grub,
		tokens:    newTokenGate(cfg.NATTokenWindow, cfg.DHCPExchange),
		tftpSlots: slots, closed: make(chan struct{})}
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	mgr.AddProfileCheck(s.checkProfile)
	return s, nil
}

func (s *Service) listen() error {
	for _, l := range []func() error{s.listenTFTP, s.listenHTTP, s.listenHTTPS} {
		if err := l(); err != nil {
			return err
		}
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

func (s *Service) listenTFTP() error {
	if s.cfg.TFTPAddr == Disabled {
		return nil
	}
	ua, err := net.ResolveUDPAddr("udp", s.cfg.TFTPAddr)
	if err != nil {
		return fmt.Errorf("boot: tftp address %q: %w", s.cfg.TFTPAddr, err)
	}
	if s.tftpConn, err = net.ListenUDP("udp", ua); err != nil {
		return fmt.Errorf("boot: listen tftp %s: %w", s.cfg.TFTPAddr, err)
	}
	s.tftpSrv = s.newTFTPServer()
	return nil
}

func (s *Service) listenHTTP() error {
	if s.cfg.HTTPAddr == Disabled {
		return nil
	}
	var err error
	if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("boot: listen http %s: %w", s.cfg.HTTPAddr, err)
	}
	s.httpLn = s.limitConns(s.httpLn, "http")
	s.httpSrv = s.newHTTPServer()
	s.httpPort = portOf(s.httpLn.Addr())
	return nil
}

// listenHTTPS binds the HTTPS listener when it is on and has a certificate.
func (s *Service) listenHTTPS() error {
	tlsCfg, err := s.tlsConfig()
	if err != nil || tlsCfg == nil {
		return err
	}
	tlsCfg = withFirmwareCiphers(tlsCfg)
	ln, err := net.Listen("tcp", s.cfg.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("boot: listen https %s: %w", s.cfg.HTTPSAddr, err)
	}
	s.httpsSrv = s.newHTTPServer()
	s.httpsSrv.Handler = s.httpsHandler()
	s.httpsSrv.TLSConfig = tlsCfg
	s.httpsLn = tls.NewListener(s.limitConns(ln, "https"), tlsCfg)
	s.httpsPort = portOf(ln.Addr())
	return nil
}

// tlsConfig is the HTTPS listener's TLS settings: Config.TLSConfig, or the certificate
// file pair; nil when HTTPS is off or has no certificate.
func (s *Service) tlsConfig() (*tls.Config, error) {
	switch {
	case s.cfg.HTTPSAddr == Disabled:
		return nil, nil
	case s.cfg.TLSConfig != nil:
		return s.cfg.TLSConfig, nil
	case s.cfg.TLSCertFile == "":
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("boot: load TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
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

// closeListeners closes every listener New bound; one already closed is no error.
func (s *Service) closeListeners() error {
	var errs []error
	for _, c := range []io.Closer{s.tftpConnCloser(), s.httpLn, s.httpsLn} {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("boot: close listeners: %w", err)
	}
	return nil
}

func (s *Service) tftpConnCloser() io.Closer {
	if s.tftpConn == nil {
		return nil
	}
	return s.tftpConn
}

// Close closes every listener the service bound (TFTP, HTTP, HTTPS) without draining
// HTTP requests (TFTP transfers in flight still end within their retransmit timeouts).
// It is for a service Serve will not run, such as after a failed start-up: Serve closes
// the listeners itself when it returns. A Serve running when Close is called returns; a
// later Serve returns an error. Close is idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.tftpSrv != nil {
			s.tftpSrv.Shutdown() // a Serve to come or running stops reading
		}
		for _, srv := range []*http.Server{s.httpSrv, s.httpsSrv} {
			if srv != nil {
				srv.Close()
			}
		}
		s.closeErr = s.closeListeners()
	})
	return s.closeErr
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

// httpsHandler is Handler plus the agent API under /agent/ and the virtual-media ISOs
// under /vmedia/: HTTPS only, since both carry secrets that must never travel in the clear.
func (s *Service) httpsHandler() http.Handler {
	boot := s.Handler()
	if s.cfg.AgentHandler == nil && s.cfg.MediaHandler == nil {
		return boot
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.cfg.AgentHandler != nil && strings.HasPrefix(r.URL.Path, "/agent/"):
			s.cfg.AgentHandler.ServeHTTP(w, r)
		case s.cfg.MediaHandler != nil && strings.HasPrefix(r.URL.Path, "/vmedia/"):
			s.cfg.MediaHandler.ServeHTTP(w, r)
		default:
			boot.ServeHTTP(w, r)
		}
	})
}

// Handler is the boot HTTP handler (the same on HTTP and HTTPS), for mounting elsewhere.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Serve serves TFTP, HTTP and HTTPS until ctx ends (or Close is called), then stops
// accepting, drains transfers in flight (at most DrainTimeout for HTTP; TFTP transfers end
// within their retransmit timeouts), closes the listeners and returns nil. A listener
// failure stops all and is returned. Call it once, and not after Close.
func (s *Service) Serve(ctx context.Context) error {
	select {
	case <-s.closed:
		return errors.New("boot: serve after close")
	default:
	}
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	start := func(name string, run func() error) {
		wg.Go(func() {
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("boot: %s: %w", name, err)
			}
		})
	}
	if s.tftpSrv != nil {
		start("tftp", func() error { return s.tftpSrv.Serve(s.tftpConn) })
		s.log.Info("tftp listening", "addr", s.tftpConn.LocalAddr().String(), "blksize_cap", s.cfg.TFTPBlockSize, "max_transfers", s.cfg.MaxTFTPTransfers,
			"max_per_source", s.cfg.MaxTFTPPerSource, "max_per_pod", s.cfg.MaxTFTPPerPod)
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
	case <-s.closed:
	case err = <-errc:
	}
	s.shutdown()
	wg.Wait()
	if cerr := s.closeListeners(); err == nil {
		err = cerr
	}
	return err
}

// shutdown stops the listeners gracefully: HTTP requests in flight get DrainTimeout,
// TFTP transfers their retransmit timeouts.
func (s *Service) shutdown() {
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{s.httpSrv, s.httpsSrv} {
		if srv == nil {
			continue
		}
		wg.Go(func() {
			if err := srv.Shutdown(dctx); err != nil {
				srv.Close()
			}
		})
	}
	if s.tftpSrv != nil {
		wg.Go(s.shutdownTFTP)
	}
	wg.Wait()
}

// shutdownTFTP stops the TFTP server and closes its socket. pin/tftp's Shutdown closes
// the socket only when its Serve has already taken it; cancelled right after Serve
// started, it may not have, and that Serve would then block reading it. Closing the
// socket here ends that read and releases the port either way.
func (s *Service) shutdownTFTP() {
	s.tftpSrv.Shutdown()
	if err := s.tftpConn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("close tftp socket", "err", err)
	}
}

// recordEvent writes a host event. It runs in the handler after the body was handed to
// the connection, so by the time a client has the whole file the step is on record.
func (s *Service) recordEvent(src, action, detail string, t target, state podmgr.HostState) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var guards []podmgr.HostGuard
	if s.cfg.HostGuards != nil {
		var err error
		if guards, err = s.cfg.HostGuards(t.pc.Pod.Name); err != nil {
			s.log.Debug("host event not recorded", "pod", t.pc.Pod.Name, "host", t.host.MAC, "action", action, "err", err)
			return
		}
	}
	if _, err := s.mgr.RecordHostEvent(ctx, t.host.MAC, src, action, detail, podmgr.HostUpdate{State: state}, guards...); err != nil {
		s.log.Warn("record host event", "pod", t.pc.Pod.Name, "host", t.host.MAC, "action", action, "err", err)
	}
}
