package server

import (
	"path/filepath"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imageapi"
	"github.com/podboot/podboot/pkg/provision"
	"github.com/podboot/podboot/pkg/pxe"
)

// ArtifactsDir is the artifact store inside the data dir.
const ArtifactsDir = "artifacts"

// openArtifacts opens the artifact store and mounts the image routes on the API. On
// etcd the store is one replica's copy of the shared catalog (replication.go).
func (s *Server) openArtifacts() error {
	open := artifact.Open
	if s.cfg.Store.Kind == "etcd" {
		open = artifact.OpenReplica
	}
	store, err := open(filepath.Join(s.cfg.DataDir, ArtifactsDir))
	if err != nil {
		return err
	}
	s.onFailure("artifact store", store.Close)
	s.artifacts = store
	s.api.SetArtifactLookup(func(ref string) bool { _, ok := store.Resolve(ref); return ok })
	s.api.Mount(imageapi.New(store, s.mgr, s.log).Routes()...)
	return nil
}

// openBoot builds the boot service (TFTP, HTTP, HTTPS; pxe.New binds the listeners),
// registered to run with the other listeners. Its HTTPS listener carries the agent API
// and uses podboot's own certificate, picked per handshake, unless boot.tlsCertFile is set.
func (s *Server) openBoot() error {
	bc := s.cfg.Boot
	tlsCfg, err := s.bootTLSConfig(bc)
	if err != nil {
		return err
	}
	bc.TLSConfig = tlsCfg
	if err := s.openMedia(); err != nil {
		return err
	}
	bc.MediaHandler = s.media
	if s.leaseIP != nil {
		bc.LeaseIP, bc.DHCPExchange = s.leaseIP, s.dhcpExchange
	}
	prov, err := provision.New(s.cfg.Provision, s.mgr, s.artifacts, s.log)
	if err != nil {
		return err
	}
	if s.owner != nil {
		prov.SetOwner(s.owner) // only the pod's owner writes tokens and host events
		bc.HostGuards = prov.Guards
	}
	bc.HostToken, bc.AgentHandler = prov.HostToken, prov.Handler()
	bc.Replicas = s.replicaURLs()
	s.api.Mount(prov.Routes()...)
	svc, err := pxe.New(bc, s.mgr, s.artifacts, s.prom, s.log)
	if err != nil {
		return err
	}
	s.onFailure("boot listeners", svc.Close)
	s.boot = svc
	s.addService("boot", svc.Serve)
	return nil
}

// Boot is the boot service (tests ask it for its bound addresses).
func (s *Server) Boot() *pxe.Service { return s.boot }

// Artifacts is the artifact store (the image push shares its ingest path).
func (s *Server) Artifacts() *artifact.Store { return s.artifacts }
