package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/blobsync"
	"github.com/podboot/podboot/pkg/podmgr"
)

// ReplicaTokenFile holds the replica-role token this replica pulls blobs from its
// peers with (etcd store only). Its absence marks the data dir's first start on etcd.
const ReplicaTokenFile = "replica.token"

// ArtifactsConfig is the `artifacts:` section: how many replicas must hold a pushed
// image before the push returns, and how long to wait for them (etcd store only).
type ArtifactsConfig struct {
	MinCopies   int           `yaml:"minCopies"`
	CopyTimeout time.Duration `yaml:"copyTimeout"`
}

// openReplication keeps the artifact store in step with the other replicas on the same
// etcd (pkg/blobsync); with bbolt there is one replica and nothing to do. It runs after
// openReplica: the member name is the replica's name in the catalog too.
func (s *Server) openReplication() error {
	ls, ok := s.store.(lockedStore)
	if !ok || s.members == nil {
		return nil
	}
	id := s.members.Name()
	_, statErr := os.Stat(filepath.Join(s.cfg.DataDir, ReplicaTokenFile))
	fresh := errors.Is(statErr, fs.ErrNotExist) // first start of this data dir on etcd
	token, err := s.replicaToken(id)
	if err != nil {
		return err
	}
	var caPEM []byte
	if s.cfg.API.TLSCert == "" {
		if caPEM, err = os.ReadFile(s.pki.CACertFile()); err != nil {
			return fmt.Errorf("artifact replication: read the CA peers verify this replica with: %w", err)
		}
	}
	apiURL := s.members.Config().Advertise.API
	if apiURL == "" {
		apiURL = s.advertiseURL()
	}
	live := func(ctx context.Context) ([]string, error) {
		ms, err := s.members.Live(ctx)
		names := make([]string, 0, len(ms))
		for _, m := range ms {
			names = append(names, m.Name)
		}
		return names, err
	}
	rep, err := blobsync.New(blobsync.Config{ID: id, APIURL: apiURL, CAPEM: caPEM, Token: token, Live: live,
		MinCopies: s.cfg.Artifacts.MinCopies, CopyTimeout: s.cfg.Artifacts.CopyTimeout, Adopt: fresh},
		ls.Client(), ls.Prefix(), s.artifacts, s.log.With("replica", id))
	if err != nil {
		return err
	}
	s.prom.MustRegister(rep.Collectors()...)
	s.artifacts.SetHooks(rep.Hooks())
	s.api.Mount(blobsync.Routes(s.artifacts, s.log)...)
	s.addService("artifact replication", rep.Run)
	return nil
}

// replicaToken returns this replica's replica-role token from the data dir, issuing a
// new one (named replica-ID) when there is none or the store no longer knows it.
func (s *Server) replicaToken(id string) (string, error) {
	path := filepath.Join(s.cfg.DataDir, ReplicaTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(b))
		if t, ok := s.mgr.Authenticate(secret); ok && t.Role == podmgr.RoleReplica {
			return secret, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	actor := podmgr.Actor{Name: "podboot", Role: podmgr.RoleAdmin}
	name := "replica-" + id
	for _, t := range s.mgr.Tokens() {
		if t.Name == name { // its secret was lost with the file
			if err := s.mgr.RevokeToken(ctx, actor, t.ID, true); err != nil {
				return "", fmt.Errorf("revoke the lost replica token %s: %w", name, err)
			}
		}
	}
	secret, _, err := s.mgr.CreateToken(ctx, actor, name, podmgr.RoleReplica)
	if err != nil {
		return "", fmt.Errorf("issue replica token %s: %w", name, err)
	}
	if err := writeFileAtomic(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write replica token %s: %w", path, err)
	}
	return secret, nil
}
