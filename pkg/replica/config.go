package replica

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"time"
)

// Config is this replica's identity and the liveness knobs (serve's replica.* settings).
type Config struct {
	// Name identifies the replica among the others (default: the host name).
	Name string `yaml:"name"`
	// Advertise are the addresses the replica tells hosts and peers about.
	Advertise Advertise `yaml:"advertise"`
	// TTL is the session lease's time to live (default 5s): a replica that stops
	// keeping it alive is gone after at most TTL (2×TTL+1s when the etcd leader
	// changes meanwhile), and stops answering on its own after 2/3 of it.
	TTL time.Duration `yaml:"ttl"`
	// ConfirmDelay is how long a vanished member stays a suspect before its pods move
	// (default 1s): the second round of the liveness check.
	ConfirmDelay time.Duration `yaml:"confirmDelay"`
	// Poll is how often the replica reads the membership and the pod owners (default 250ms).
	Poll time.Duration `yaml:"poll"`
}

// Advertise are a replica's addresses as hosts and peers reach them. Empty fields are
// left out of the member record; DHCP then keeps each pod's serverAddress.
type Advertise struct {
	// DHCP is the IPv4 address DHCP replies carry as server identifier and next-server,
	// and the host of the boot URLs handed to hosts of the pods this replica owns.
	DHCP string `yaml:"dhcp"`
	// TFTP, HTTP, HTTPS and API are URLs (tftp://, http://, https://).
	TFTP  string `yaml:"tftp"`
	HTTP  string `yaml:"http"`
	HTTPS string `yaml:"https"`
	API   string `yaml:"api"`
}

// Defaults of the liveness knobs.
const (
	DefaultTTL          = 5 * time.Second
	DefaultConfirmDelay = time.Second
	DefaultPoll         = 250 * time.Millisecond
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// WithDefaults fills the zero fields and checks the rest.
func (c Config) WithDefaults() (Config, error) {
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("replica name: none given and no host name: %w", err)
		}
		c.Name = h
	}
	if !nameRE.MatchString(c.Name) {
		return c, fmt.Errorf("replica name %q: use 1-63 letters, digits, '.', '_' or '-'", c.Name)
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ConfirmDelay == 0 {
		c.ConfirmDelay = DefaultConfirmDelay
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if c.TTL < 2*time.Second {
		return c, fmt.Errorf("replica ttl %s: etcd grants at least 2s", c.TTL)
	}
	if c.ConfirmDelay < 0 || c.Poll < 0 {
		return c, fmt.Errorf("replica confirmDelay and poll must not be negative")
	}
	if c.Advertise.DHCP != "" {
		a, err := netip.ParseAddr(c.Advertise.DHCP)
		if err != nil || !a.Is4() {
			return c, fmt.Errorf("replica advertise.dhcp %q: not an IPv4 address", c.Advertise.DHCP)
		}
	}
	return c, nil
}
