package imagepush

import (
	"crypto/x509"
	"fmt"

	"github.com/podboot/podboot/pkg/imagesign"
)

// DefaultMaxUploadBytes bounds one push when the config says nothing (64 GiB: a large
// stage2 image with room to spare, far below a full disk on a real server).
const DefaultMaxUploadBytes int64 = 64 << 30

// Config is the `images:` section of the serve config.
type Config struct {
	// RootCA is a PEM file of the root CA(s) pushed images must chain to. Empty means
	// podboot's own CA (DATA_DIR/pki/ca.pem); the server fills that in.
	RootCA string `yaml:"rootCA"`
	// MaxUploadBytes bounds one push; 0 means DefaultMaxUploadBytes.
	MaxUploadBytes int64 `yaml:"maxUploadBytes"`
}

// withDefaults validates c and fills in the upload limit.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.MaxUploadBytes < 0:
		return c, fmt.Errorf("images.maxUploadBytes %d: must be positive (or 0 for the default %d)", c.MaxUploadBytes, DefaultMaxUploadBytes)
	case c.MaxUploadBytes == 0:
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.RootCA == "" {
		return c, fmt.Errorf("images.rootCA: no root CA file given")
	}
	return c, nil
}

// loadRoots reads the trusted roots once, at start: a missing or empty file is a
// configuration error, not something to discover on the first push.
func loadRoots(file string) (*x509.CertPool, error) {
	pool, err := imagesign.LoadCertPool(file)
	if err != nil {
		return nil, fmt.Errorf("images.rootCA: %w", err)
	}
	return pool, nil
}
