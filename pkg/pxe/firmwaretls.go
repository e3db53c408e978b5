package pxe

import "crypto/tls"

// firmwaretls.go: UEFI HTTPS Boot (docs/boot.md, "HTTPS boot URLs") talks TLS 1.2
// through EDK2's TlsDxe, whose OpenSSL is built without elliptic curves in the OVMF
// and much server firmware of this generation: it offers no ECDHE suite, only RSA key
// exchange. Go leaves RSA key exchange out of its defaults since 1.22, so the boot
// HTTPS listener lists Go's default TLS 1.2 suites and then the two RSA-GCM ones; Go
// clients (the agent), curl and browsers still negotiate TLS 1.3 or ECDHE.

// withFirmwareCiphers returns cfg with the cipher suites firmware needs added, unless
// the operator's TLS configuration already chose its own.
func withFirmwareCiphers(cfg *tls.Config) *tls.Config {
	if cfg == nil || cfg.CipherSuites != nil {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.CipherSuites = []uint16{
		// Go's default TLS 1.2 suites (forward secret), preferred.
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		// RSA key exchange, for firmware without elliptic curves (RSA certificate only).
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	}
	return cfg
}
