package server

import (
	"crypto/tls"
	"fmt"

	"github.com/podboot/podboot/pkg/pxe"
)

// bootTLSConfig is the boot HTTPS listener's TLS when it uses podboot's own certificate,
// chosen per handshake (owncert.go) so that it covers pods registered after start-up.
// Nil when HTTPS is off or boot.tlsCertFile/tlsKeyFile name a certificate: the boot
// service loads that pair itself (and refuses one half of it).
func (s *Server) bootTLSConfig(bc pxe.Config) (*tls.Config, error) {
	if bc.HTTPSAddr == pxe.Disabled || bc.TLSCertFile != "" || bc.TLSKeyFile != "" {
		return nil, nil
	}
	own, err := s.ownCertificates()
	if err != nil {
		return nil, fmt.Errorf("boot HTTPS certificate: %w", err)
	}
	return &tls.Config{GetCertificate: own.GetCertificate, MinVersion: tls.VersionTLS12}, nil
}
