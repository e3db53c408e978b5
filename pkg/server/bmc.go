package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/bmc/cred"
)

// BMCConfig is the `bmc:` section: the key that seals BMC passwords at rest (default
// DATA_DIR/bmc.key, made on first start, 0600) and how long one BMC operation may take.
type BMCConfig struct {
	KeyFile string        `yaml:"keyFile"`
	Timeout time.Duration `yaml:"timeout"`
	// PollInterval is how often every BMC's power state is read (0: no poll);
	// PollConcurrency bounds the BMCs read at once (default 8).
	PollInterval    time.Duration `yaml:"pollInterval"`
	PollConcurrency int           `yaml:"pollConcurrency"`
}

// BMCKeyFile is the key file cfg names, or the default in the data dir.
func BMCKeyFile(cfg Config) string {
	if cfg.BMC.KeyFile != "" {
		return cfg.BMC.KeyFile
	}
	return filepath.Join(cfg.DataDir, cred.DefaultKeyFile)
}

// openBMC mounts the BMC routes. A key file the operator named must exist; the
// default one is made on first start.
func (s *Server) openBMC() error {
	keys, err := cred.Load(BMCKeyFile(s.cfg), s.cfg.BMC.KeyFile == "")
	if err != nil {
		return fmt.Errorf("bmc: %w", err)
	}
	svc := bmc.NewService(s.mgr, keys, s.log, s.cfg.BMC.Timeout)
	pub := &isoPublisher{imgs: s.media, reg: s.mgr.Registry(), store: s.artifacts, boot: s.boot}
	svc.UseISOPublisher(pub)
	s.api.Mount(svc.Routes()...)
	s.addService("virtual media finish", func(ctx context.Context) error {
		svc.FinishOnProvisioned(ctx, pub)()
		return nil
	})
	if iv := s.cfg.BMC.PollInterval; iv > 0 {
		n := s.cfg.BMC.PollConcurrency
		if n <= 0 {
			n = 8
		}
		p := bmc.NewPoller(svc, n)
		s.addService("bmc power poll", func(ctx context.Context) error { return p.Run(ctx, iv) })
	}
	return nil
}
