package pxe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Config configures the boot service. Zero values take the defaults below.
type Config struct {
	// TFTPAddr is the TFTP listen address (default ":69"); "-" disables TFTP.
	TFTPAddr string `yaml:"tftpAddr"`
	// HTTPAddr is the plain HTTP listen address for iPXE builds without TLS (default ":8080").
	HTTPAddr string `yaml:"httpAddr"`
	// HTTPSAddr is the HTTPS listen address (default ":8443"); "-" or no certificate
	// (neither TLSConfig nor TLSCertFile) disables it.
	HTTPSAddr   string `yaml:"httpsAddr"`
	TLSCertFile string `yaml:"tlsCertFile"`
	TLSKeyFile  string `yaml:"tlsKeyFile"`
	// TLSConfig, when set, is the HTTPS listener's TLS settings in place of the file
	// pair, e.g. one that picks the certificate per handshake (GetCertificate): serve
	// passes podboot's own certificate source here. Set it or the file pair, not both.
	TLSConfig *tls.Config `yaml:"-"`

	// AdvertiseHTTPPort and AdvertiseHTTPSPort are the ports put in URLs handed to hosts
	// (default: the ports listened on; set them when a port is forwarded).
	AdvertiseHTTPPort  int `yaml:"advertiseHttpPort"`
	AdvertiseHTTPSPort int `yaml:"advertiseHttpsPort"`

	// TFTPBlockSize caps the negotiated TFTP block size (default 1400: fits WAN paths
	// with tunnels and VLAN tags; clients asking for more get this).
	TFTPBlockSize int `yaml:"tftpBlockSize"`
	// TFTPWindowSize caps the RFC 7440 windowsize acknowledged to clients that ask for
	// one (default 8; 1 turns windowing off: every client is served lock-step).
	TFTPWindowSize int `yaml:"tftpWindowSize"`
	// MaxTFTPTransfers bounds concurrent TFTP transfers (default 512); beyond it a request
	// is dropped unanswered, so that the client retransmits it when a slot may be free.
	MaxTFTPTransfers int `yaml:"maxTftpTransfers"`
	// MaxTFTPPerSource and MaxTFTPPerPod are one source address's and one pod's shares of
	// those transfers (defaults max(8, maxTftpTransfers/16) and maxTftpTransfers/2); beyond
	// them requests are dropped too. Every host behind one NAT address shares that address's share.
	MaxTFTPPerSource int `yaml:"maxTftpPerSource"`
	MaxTFTPPerPod    int `yaml:"maxTftpPerPod"`
	// TFTPFirstACKTimeout: a transfer whose first DATA (or option ack) is not acknowledged
	// within it gives its slot back (default 2 × tftpTimeout: one retransmit).
	TFTPFirstACKTimeout time.Duration `yaml:"tftpFirstAckTimeout"`
	// TFTPTimeout is the retransmit timeout until a transfer's first round trip is
	// measured (default 1s, as tftpd-hpa); TFTPRetries the attempts (5). From then on
	// the timeout is the transfer's smoothed RTT + 4 × its variation (RFC 6298), doubled
	// per retransmission, within [TFTPMinTimeout, TFTPMaxTimeout] when TFTPMinTimeout
	// is positive (opt-in, e.g. 200ms; default 0: the fixed TFTPTimeout, see docs/boot.md
	// for why); TFTPMaxTimeout defaults to 5s.
	TFTPTimeout    time.Duration `yaml:"tftpTimeout"`
	TFTPRetries    int           `yaml:"tftpRetries"`
	TFTPMinTimeout time.Duration `yaml:"tftpMinTimeout"`
	TFTPMaxTimeout time.Duration `yaml:"tftpMaxTimeout"`

	// HTTP timeouts and limits. WriteTimeout bounds a whole response, so it must cover
	// a stage2 image over the slowest WAN link (default 1h).
	HTTPReadHeaderTimeout time.Duration `yaml:"httpReadHeaderTimeout"` // default 10s
	HTTPReadTimeout       time.Duration `yaml:"httpReadTimeout"`       // default 30s
	HTTPWriteTimeout      time.Duration `yaml:"httpWriteTimeout"`      // default 1h
	HTTPIdleTimeout       time.Duration `yaml:"httpIdleTimeout"`       // default 120s
	HTTPMaxHeaderBytes    int           `yaml:"httpMaxHeaderBytes"`    // default 16 KiB
	// DrainTimeout bounds how long Serve waits for transfers when its context ends (30s).
	DrainTimeout time.Duration `yaml:"drainTimeout"`
	// MaxConnsPerSource and MaxConns cap the open connections of each of the HTTP and
	// HTTPS listeners from one source address and in total (defaults 128 and 4096);
	// connections over a cap are closed at accept. Every host behind one NAT address
	// shares that address's connections.
	MaxConnsPerSource int `yaml:"maxConnsPerSource"`
	MaxConns          int `yaml:"maxConns"`

	// LeaseIP returns the address leased to a host by the DHCP service, for hosts without
	// a reservation; used by the source-address check of non-NAT pods. Nil: reservations only.
	LeaseIP func(pod, mac string) (netip.Addr, bool) `yaml:"-"`
	// DHCPExchange returns a host's last relayed DHCP exchange (wired to
	// dhcprelay.Server.LastExchange): the tokens of NAT pods are bound to it (tokengate.go).
	// Nil: NAT pods get scripts without tokens.
	DHCPExchange func(pod, mac string) (Exchange, bool) `yaml:"-"`
	// NATTokenWindow is how long after a host's relayed DHCP ACK the iPXE script of a NAT
	// pod may carry a token (default 3m; one token per exchange).
	NATTokenWindow time.Duration `yaml:"natTokenWindow"`
	// Replicas, with several podboot replicas (docs/ha.md), returns this replica's
	// HTTPS URL (the iPXE script's podboot.server instead of the pod's serverAddress)
	// and every live replica's (podboot.servers, the agent's failover list).
	Replicas func() (self string, all []string) `yaml:"-"`
	// HostToken returns the one-time provisioning token rendered into a host's kernel
	// command line (podboot.token=…) and records step, the script's host event, in the
	// same commit (provision.Service.HostToken, podmgr.Manager.IssueHostTokenWith): the
	// boot service records nothing more for that request. Nil leaves the token out (the
	// boot service then records the event itself); an empty token leaves it out too.
	HostToken func(ctx context.Context, h podmgr.Host, step podmgr.HostStep) (string, error) `yaml:"-"`
	// HostGuards, when set, says whether this replica may write pod's host events and
	// returns the checks its writes make in their transaction (provision.Service.Guards:
	// the ownership fence, docs/ha.md). A refused event is not recorded; the file is
	// still served.
	HostGuards func(pod string) ([]podmgr.HostGuard, error) `yaml:"-"`
	// AgentHandler serves the stage1 agent API under /agent/ on the HTTPS listener only
	// (it carries provisioning tokens); nil: no agent API. See pkg/provision.
	AgentHandler http.Handler `yaml:"-"`
	// MediaHandler serves hosts' virtual-media ISOs under /vmedia/ on the HTTPS listener
	// only (the URL holds a secret); nil: none. See pkg/vmedia.
	MediaHandler http.Handler `yaml:"-"`
}

// Defaults of Config.
const (
	DefaultTFTPAddr         = ":69"
	DefaultHTTPAddr         = ":8080"
	DefaultHTTPSAddr        = ":8443"
	DefaultTFTPBlockSize    = 1400
	DefaultTFTPWindowSize   = 8
	DefaultMaxTFTPTransfers = 512
	DefaultNATTokenWindow   = 3 * time.Minute
)

// Defaults of the HTTP and HTTPS listeners' connection caps (per listener).
const (
	DefaultMaxConnsPerSource = 128
	DefaultMaxConns          = 4096
)

// Disabled as a listen address turns that listener off.
const Disabled = "-"

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.TFTPAddr, DefaultTFTPAddr)
	def(&c.HTTPAddr, DefaultHTTPAddr)
	def(&c.HTTPSAddr, DefaultHTTPSAddr)
	if c.TFTPBlockSize == 0 {
		c.TFTPBlockSize = DefaultTFTPBlockSize
	}
	if c.TFTPWindowSize == 0 {
		c.TFTPWindowSize = DefaultTFTPWindowSize
	}
	if c.MaxTFTPTransfers == 0 {
		c.MaxTFTPTransfers = DefaultMaxTFTPTransfers
	}
	if c.TFTPTimeout == 0 {
		c.TFTPTimeout = time.Second
	}
	if c.TFTPRetries == 0 {
		c.TFTPRetries = 5
	}
	if c.TFTPMaxTimeout == 0 {
		c.TFTPMaxTimeout = max(5*time.Second, c.TFTPTimeout)
	}
	if c.MaxTFTPPerSource == 0 {
		c.MaxTFTPPerSource = max(8, c.MaxTFTPTransfers/16)
	}
	if c.MaxTFTPPerPod == 0 {
		c.MaxTFTPPerPod = max(1, c.MaxTFTPTransfers/2)
	}
	if c.TFTPFirstACKTimeout == 0 {
		c.TFTPFirstACKTimeout = 2 * c.TFTPTimeout
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&c.HTTPReadHeaderTimeout, 10*time.Second)
	dur(&c.HTTPReadTimeout, 30*time.Second)
	dur(&c.HTTPWriteTimeout, time.Hour)
	dur(&c.HTTPIdleTimeout, 120*time.Second)
	dur(&c.DrainTimeout, 30*time.Second)
	dur(&c.NATTokenWindow, DefaultNATTokenWindow)
	if c.MaxConnsPerSource == 0 {
		c.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.HTTPMaxHeaderBytes == 0 {
		c.HTTPMaxHeaderBytes = 16 << 10
	}
	return c
}

func (c Config) validate() error {
	if c.TFTPBlockSize <= 512 || c.TFTPBlockSize > 65464 {
		return fmt.Errorf("boot: tftpBlockSize %d: use 513-65464 (1400 suits WAN paths; clients that ask for no blksize get 512 anyway)", c.TFTPBlockSize)
	}
	if c.TFTPWindowSize < 1 || c.TFTPWindowSize > 64 {
		return fmt.Errorf("boot: tftpWindowSize %d: use 1-64 (1: no windowing)", c.TFTPWindowSize)
	}
	if c.MaxTFTPTransfers < 1 {
		return fmt.Errorf("boot: maxTftpTransfers %d: use at least 1", c.MaxTFTPTransfers)
	}
	if c.MaxTFTPPerSource < 1 || c.MaxTFTPPerPod < 1 {
		return fmt.Errorf("boot: maxTftpPerSource %d, maxTftpPerPod %d: use at least 1 (defaults max(8, maxTftpTransfers/16) and maxTftpTransfers/2)", c.MaxTFTPPerSource, c.MaxTFTPPerPod)
	}
	if c.MaxConnsPerSource < 0 || c.MaxConns < 0 {
		return fmt.Errorf("boot: maxConnsPerSource %d, maxConns %d: use at least 1 (defaults %d and %d)", c.MaxConnsPerSource, c.MaxConns, DefaultMaxConnsPerSource, DefaultMaxConns)
	}
	if c.TFTPFirstACKTimeout < 0 {
		return fmt.Errorf("boot: tftpFirstAckTimeout %s: use a positive duration (default 2 × tftpTimeout)", c.TFTPFirstACKTimeout)
	}
	if c.NATTokenWindow < 0 {
		return fmt.Errorf("boot: natTokenWindow %s: use a positive duration (default 3m)", c.NATTokenWindow)
	}
	if c.HTTPSAddr != Disabled && (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("boot: set both tlsCertFile and tlsKeyFile, or neither")
	}
	if c.TLSConfig != nil && c.TLSCertFile != "" {
		return errors.New("boot: a TLS config and tlsCertFile/tlsKeyFile are exclusive")
	}
	return nil
}
