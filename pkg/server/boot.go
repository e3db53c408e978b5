package server

import (
	"context"
	"crypto/tls"
	"path/filepath"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/artifact/imageapi"
	"github.com/podboot/podboot/pkg/provision"
	"github.com/podboot/podboot/pkg/pxe"
)

// ArtifactsDir is the artifact store inside the data dir.
const ArtifactsDir = "artifacts"

// openArtifacts opens the artifact store and mounts the image routes on the API.
func (s *Server) openArtifacts() error {
	store, err := artifact.Open(filepath.Join(s.cfg.DataDir, ArtifactsDir))
	if err != nil {
		return err
	}
	s.onFailure("artifact store", store.Close)
	s.artifacts = store
	s.api.Mount(imageapi.New(store, s.mgr, s.log).Routes()...)
	return nil
}

// openBoot builds the boot service (TFTP, HTTP, HTTPS), registered to run with the
// other listeners. It is the last step of Open: pxe.New binds the TFTP and HTTP
// listeners and nothing may fail after it (see Open).
//
// serve runs the HTTPS listener itself (boothttps.go) rather than leaving it to the boot
// service, so that it can pick podboot's own certificate per handshake and cover pods
// registered after start-up; the handler is the boot service's, plus the agent API.
func (s *Server) openBoot() error {
	bc := withHTTPDefaults(s.cfg.Boot)
	tlsCfg, err := s.bootTLSConfig(bc)
	if err != nil {
		return err
	}
	if tlsCfg != nil {
		if err := s.listenBootHTTPS(&bc); err != nil {
			return err
		}
	}
	bc.HTTPSAddr, bc.TLSCertFile, bc.TLSKeyFile = pxe.Disabled, "", ""
	if s.leaseIP != nil {
		bc.LeaseIP = s.leaseIP
	}
	prov, err := provision.New(s.cfg.Provision, s.mgr, s.artifacts, s.log)
	if err != nil {
		return err
	}
	bc.HostToken = prov.HostToken
	s.api.Mount(prov.Routes()...)
	svc, err := pxe.New(bc, s.mgr, s.artifacts, s.prom, s.log)
	if err != nil {
		return err
	}
	s.boot = svc
	s.addService("boot", svc.Serve)
	if tlsCfg != nil {
		hs := newBootHTTPSServer(bc, bootHTTPSHandler(svc.Handler(), prov.Handler()), s.log)
		ln := tls.NewListener(s.bootHTTPSLn, tlsCfg)
		s.addService("boot https", func(ctx context.Context) error { return serveHTTP(ctx, hs, ln, bc.DrainTimeout, s.log) })
	}
	return nil
}

// Boot is the boot service (tests ask it for its bound addresses).
func (s *Server) Boot() *pxe.Service { return s.boot }

// Artifacts is the artifact store (the image push shares its ingest path).
func (s *Server) Artifacts() *artifact.Store { return s.artifacts }
