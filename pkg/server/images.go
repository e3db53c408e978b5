package server

import (
	"fmt"

	"github.com/podboot/podboot/pkg/imagepush"
)

// ImagesConfig is the `images:` section: the root CA pushed images must chain to
// (default: podboot's own CA, DATA_DIR/pki/ca.pem) and the upload size limit.
type ImagesConfig = imagepush.Config

// openImagePush mounts the CI push route (PUT /api/v1/images/{name}/{version}) over the
// artifact store openBoot opened.
func (s *Server) openImagePush() error {
	cfg := s.cfg.Images
	if cfg.RootCA == "" {
		cfg.RootCA = s.pki.CACertFile()
	}
	h, err := imagepush.New(cfg, s.artifacts, imagepush.ManagerAudit(s.mgr, s.log), s.log)
	if err != nil {
		return fmt.Errorf("image push: %w", err)
	}
	s.api.Mount(h.Routes()...)
	return nil
}
