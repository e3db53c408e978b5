package server

import (
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
	s.api.Mount(bmc.NewService(s.mgr, keys, s.log, s.cfg.BMC.Timeout).Routes()...)
	return nil
}
