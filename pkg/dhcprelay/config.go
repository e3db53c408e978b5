package dhcprelay

import (
	"fmt"
	"runtime"
	"time"
)

// Config configures the DHCP service. Zero fields take the defaults below.
type Config struct {
	// Addr is the UDP address relays send to (default ":67").
	Addr string `yaml:"addr"`
	// Workers is the number of packet workers (default 4 x GOMAXPROCS).
	Workers int `yaml:"workers"`
	// QueueLen bounds the packets waiting per relay (default 512); the total across
	// relays is bounded by 8 x QueueLen. Packets beyond are dropped and counted.
	QueueLen int `yaml:"queueLen"`
	// BootHTTPPort is the boot service's plain HTTP port, for iPXE script and UEFI HTTP
	// boot URLs (default 8080).
	BootHTTPPort int `yaml:"bootHTTPPort"`
	// BootHTTPSPort is the boot service's HTTPS port, for the UEFI HTTP Boot URLs of
	// profiles with httpsBoot (default 8443).
	BootHTTPSPort int `yaml:"bootHTTPSPort"`
	// Interface, when set, also serves broadcast (non-relayed) DHCP on that local
	// interface, for a pod on the central node's own segment. Such packets are resolved
	// as if relayed with giaddr = the interface's first IPv4 address.
	Interface string `yaml:"interface"`
	// OfferHold is how long an offered address stays held for its client (default 30s).
	OfferHold time.Duration `yaml:"offerHold"`
	// DeclineQuarantine is how long an address reported in use (DHCPDECLINE) is kept
	// out of the pool (default 1h).
	DeclineQuarantine time.Duration `yaml:"declineQuarantine"`
	// CommitBatch caps the leases written in one store transaction (default 1000).
	CommitBatch int `yaml:"commitBatch"`
	// RelayWatch bounds the relays remembered for `podboot pod check` (default 4096;
	// the least recently heard is forgotten first).
	RelayWatch int `yaml:"relayWatch"`
	// ProbeAddrs are UDP addresses listened on only to notice relays that send to the
	// wrong server port (e.g. ":68", ":6767"): packets there are counted per relay and
	// never answered (docs/fleet.md).
	ProbeAddrs []string `yaml:"probeAddrs"`
}

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = ":67"
	}
	if c.Workers == 0 {
		c.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if c.QueueLen == 0 {
		c.QueueLen = 512
	}
	if c.BootHTTPPort == 0 {
		c.BootHTTPPort = 8080
	}
	if c.BootHTTPSPort == 0 {
		c.BootHTTPSPort = 8443
	}
	if c.OfferHold == 0 {
		c.OfferHold = 30 * time.Second
	}
	if c.DeclineQuarantine == 0 {
		c.DeclineQuarantine = time.Hour
	}
	if c.CommitBatch == 0 {
		c.CommitBatch = 1000
	}
	switch {
	case c.Workers < 0 || c.Workers > 4096:
		return c, fmt.Errorf("dhcp: workers %d: use 1-4096", c.Workers)
	case c.QueueLen < 0 || c.QueueLen > 1<<20:
		return c, fmt.Errorf("dhcp: queue length %d: use 1-1048576", c.QueueLen)
	case c.BootHTTPPort < 0 || c.BootHTTPPort > 65535:
		return c, fmt.Errorf("dhcp: boot HTTP port %d is not a port", c.BootHTTPPort)
	case c.RelayWatch < 0 || c.RelayWatch > 1<<20:
		return c, fmt.Errorf("dhcp: relayWatch %d: use 1-1048576 (0 means %d)", c.RelayWatch, DefaultRelayWatch)
	case c.BootHTTPSPort < 0 || c.BootHTTPSPort > 65535:
		return c, fmt.Errorf("dhcp: boot HTTPS port %d is not a port", c.BootHTTPSPort)
	case c.OfferHold < 0 || c.DeclineQuarantine < 0 || c.CommitBatch < 0:
		return c, fmt.Errorf("dhcp: offer hold, decline quarantine and commit batch must not be negative")
	}
	return c, nil
}
