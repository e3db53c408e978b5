package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/pxe"
)

// The boot service's HTTP limits when boot: leaves them at zero; the same values as
// pxe.Config documents. serve fills them in before building the boot service, so its
// plain HTTP listener and the HTTPS listener run here share them.
const (
	defaultHTTPReadHeaderTimeout = 10 * time.Second
	defaultHTTPReadTimeout       = 30 * time.Second
	defaultHTTPWriteTimeout      = time.Hour
	defaultHTTPIdleTimeout       = 120 * time.Second
	defaultHTTPMaxHeaderBytes    = 16 << 10
	defaultDrainTimeout          = 30 * time.Second
)

func withHTTPDefaults(bc pxe.Config) pxe.Config {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&bc.HTTPReadHeaderTimeout, defaultHTTPReadHeaderTimeout},
		{&bc.HTTPReadTimeout, defaultHTTPReadTimeout},
		{&bc.HTTPWriteTimeout, defaultHTTPWriteTimeout},
		{&bc.HTTPIdleTimeout, defaultHTTPIdleTimeout},
		{&bc.DrainTimeout, defaultDrainTimeout},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if bc.HTTPMaxHeaderBytes == 0 {
		bc.HTTPMaxHeaderBytes = defaultHTTPMaxHeaderBytes
	}
	if bc.HTTPSAddr == "" {
		bc.HTTPSAddr = pxe.DefaultHTTPSAddr
	}
	return bc
}

// bootTLSConfig is the boot HTTPS listener's TLS: boot.tlsCertFile/tlsKeyFile when set,
// else podboot's own certificate chosen per handshake. Nil when HTTPS is off.
func (s *Server) bootTLSConfig(bc pxe.Config) (*tls.Config, error) {
	if bc.HTTPSAddr == pxe.Disabled {
		return nil, nil
	}
	if (bc.TLSCertFile == "") != (bc.TLSKeyFile == "") {
		return nil, errors.New("boot: set both tlsCertFile and tlsKeyFile, or neither (podboot then uses its own)")
	}
	if bc.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(bc.TLSCertFile, bc.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("boot: load TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	own, err := s.ownCertificates()
	if err != nil {
		return nil, fmt.Errorf("boot HTTPS certificate: %w", err)
	}
	return &tls.Config{GetCertificate: own.GetCertificate, MinVersion: tls.VersionTLS12}, nil
}

// listenBootHTTPS binds the boot HTTPS listener; URLs handed to hosts name its port
// unless boot.advertiseHttpsPort says otherwise.
func (s *Server) listenBootHTTPS(bc *pxe.Config) error {
	ln, err := net.Listen("tcp", bc.HTTPSAddr)
	if err != nil {
		return fmt.Errorf("boot: listen https %s: %w", bc.HTTPSAddr, err)
	}
	s.onFailure("boot HTTPS listener", ln.Close)
	s.bootHTTPSLn = ln
	if bc.AdvertiseHTTPSPort == 0 {
		bc.AdvertiseHTTPSPort = ln.Addr().(*net.TCPAddr).Port
	}
	return nil
}

// BootHTTPSAddr is the bound boot HTTPS address (nil when off).
func (s *Server) BootHTTPSAddr() net.Addr {
	if s.bootHTTPSLn == nil {
		return nil
	}
	return s.bootHTTPSLn.Addr()
}

// bootHTTPSHandler serves the agent API under /agent/ (HTTPS only: its requests carry
// provisioning tokens) and the boot files everywhere else.
func bootHTTPSHandler(boot, agent http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/agent/") {
			agent.ServeHTTP(w, r)
			return
		}
		boot.ServeHTTP(w, r)
	})
}

func newBootHTTPSServer(bc pxe.Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: bc.HTTPReadHeaderTimeout,
		ReadTimeout:       bc.HTTPReadTimeout,
		WriteTimeout:      bc.HTTPWriteTimeout,
		IdleTimeout:       bc.HTTPIdleTimeout,
		MaxHeaderBytes:    bc.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "boot").Handler(), slog.LevelDebug),
	}
}

// serveHTTP serves hs on ln until ctx ends, then lets requests in flight finish for up
// to drain and returns nil; a listener failure is returned.
func serveHTTP(ctx context.Context, hs *http.Server, ln net.Listener, drain time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("https listening", "component", "boot", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("https: %w", err)
	case <-ctx.Done():
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(dctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}
