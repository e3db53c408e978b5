package server

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/promsd"
	"github.com/podboot/podboot/pkg/provision"
	"github.com/podboot/podboot/pkg/pxe"
	"github.com/podboot/podboot/pkg/replica"
)

// DefaultDataDir is where podboot keeps its state when nothing else is said.
const DefaultDataDir = "/var/lib/podboot"

// Config is everything `podboot serve` needs. It comes from the YAML file, then the
// PODBOOT_* environment, then flags, each overriding the one before.
type Config struct {
	// DataDir holds the bbolt file, the artifact store and the PKI.
	DataDir string `yaml:"dataDir"`
	// Store is where the state lives: the bbolt file in DataDir, or etcd.
	Store StoreConfig `yaml:"store"`
	API   APIConfig   `yaml:"api"`
	Log   LogConfig   `yaml:"log"`
	// Boot is the boot service: TFTP, HTTP and HTTPS listeners and their limits.
	Boot pxe.Config `yaml:"boot"`
	// Images is the signed-image push: trusted root CA and upload limit.
	Images ImagesConfig `yaml:"images"`
	// Provision is the stage1 agent side: provisioning token lifetime.
	Provision provision.Config `yaml:"provision"`
	// DHCP is the relayed DHCPv4 service (addr "-" turns it off).
	DHCP dhcprelay.Config `yaml:"dhcp"`
	// Events bounds the stored host events: a ring per host and a global retention.
	Events podmgr.EventLimits `yaml:"events"`
	// BMC is out-of-band control: the key sealing BMC passwords, the operation timeout.
	BMC BMCConfig `yaml:"bmc"`
	// Replica is this replica's name, advertised addresses and liveness knobs, used
	// with the etcd store (docs/ha.md).
	Replica replica.Config `yaml:"replica"`
	// Artifacts is the copying of images between replicas on etcd (replication.go).
	Artifacts ArtifactsConfig `yaml:"artifacts"`
	// Fleet is the fleet view: stage-deadline checks, provision metrics (docs/fleet.md).
	Fleet fleet.Config `yaml:"fleet"`
	// PrometheusSD is the exporter port per profile that service discovery answers.
	PrometheusSD promsd.Config `yaml:"prometheusSD"`
}

// APIConfig is the management API listener.
type APIConfig struct {
	// Addr is the HTTPS listen address (default ":9443").
	Addr string `yaml:"addr"`
	// TLSCert and TLSKey name a certificate to use; when empty podboot makes one from its
	// own CA (DATA_DIR/pki) on first start.
	TLSCert string `yaml:"tlsCert"`
	TLSKey  string `yaml:"tlsKey"`
	// Names are extra DNS names and IP addresses for the certificate podboot makes.
	Names []string `yaml:"names"`
	// AdvertiseURL is the server URL written into the client config (default
	// https://localhost:PORT).
	AdvertiseURL string `yaml:"advertiseURL"`
	// MaxConnsPerSource caps the open connections from one IP address (default 64);
	// MaxConns caps them in total (default 1024). Connections over a cap are closed.
	MaxConnsPerSource int `yaml:"maxConnsPerSource"`
	MaxConns          int `yaml:"maxConns"`
	// BodyTimeout is how long a request may take to send its body (default 30s); an
	// upload instead must keep bringing 64 KiB every BodyTimeout.
	BodyTimeout time.Duration `yaml:"bodyTimeout"`
	// MaxBodyBytes bounds a JSON request body (default 1 MiB); MaxBulkBodyBytes the
	// bulk host import (default 32 MiB).
	MaxBodyBytes     int64 `yaml:"maxBodyBytes"`
	MaxBulkBodyBytes int64 `yaml:"maxBulkBodyBytes"`
}

// StoreConfig picks the store of record (docs/ha.md).
type StoreConfig struct {
	// Kind is "bbolt" (the default: DATA_DIR/podboot.db) or "etcd".
	Kind string     `yaml:"kind"`
	Etcd EtcdConfig `yaml:"etcd"`
}

// EtcdConfig is the etcd cluster of --store etcd.
type EtcdConfig struct {
	// Endpoints are the members' client URLs, comma separated.
	Endpoints string `yaml:"endpoints"`
	// Prefix starts every key (default /podboot/): one etcd can hold several installs.
	Prefix string `yaml:"prefix"`
	// CertFile and KeyFile are podboot's client certificate; CAFile verifies the members.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	CAFile   string `yaml:"caFile"`
}

// LogConfig sets up log/slog.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Defaults returns the embedded default configuration.
func Defaults() Config {
	return Config{
		DataDir: DefaultDataDir,
		API:     APIConfig{Addr: ":9443"},
		Log:     LogConfig{Level: "info", Format: "text"},
	}
}

// LoadFile merges a YAML file over c. Unknown keys are an error, so a typo is not
// silently ignored.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// envVars maps PODBOOT_* variables to config fields.
func (c *Config) envVars() map[string]*string {
	return map[string]*string{
		"PODBOOT_DATA_DIR":        &c.DataDir,
		"PODBOOT_API_ADDR":        &c.API.Addr,
		"PODBOOT_API_TLS_CERT":    &c.API.TLSCert,
		"PODBOOT_API_TLS_KEY":     &c.API.TLSKey,
		"PODBOOT_ADVERTISE_URL":   &c.API.AdvertiseURL,
		"PODBOOT_LOG_LEVEL":       &c.Log.Level,
		"PODBOOT_LOG_FORMAT":      &c.Log.Format,
		"PODBOOT_TFTP_ADDR":       &c.Boot.TFTPAddr,
		"PODBOOT_HTTP_ADDR":       &c.Boot.HTTPAddr,
		"PODBOOT_HTTPS_ADDR":      &c.Boot.HTTPSAddr,
		"PODBOOT_DHCP_ADDR":       &c.DHCP.Addr,
		"PODBOOT_STORE":           &c.Store.Kind,
		"PODBOOT_ETCD_ENDPOINTS":  &c.Store.Etcd.Endpoints,
		"PODBOOT_ETCD_PREFIX":     &c.Store.Etcd.Prefix,
		"PODBOOT_ETCD_CERT":       &c.Store.Etcd.CertFile,
		"PODBOOT_ETCD_KEY":        &c.Store.Etcd.KeyFile,
		"PODBOOT_ETCD_CA":         &c.Store.Etcd.CAFile,
		"PODBOOT_REPLICA_NAME":    &c.Replica.Name,
		"PODBOOT_ADVERTISE_DHCP":  &c.Replica.Advertise.DHCP,
		"PODBOOT_ADVERTISE_TFTP":  &c.Replica.Advertise.TFTP,
		"PODBOOT_ADVERTISE_HTTP":  &c.Replica.Advertise.HTTP,
		"PODBOOT_ADVERTISE_HTTPS": &c.Replica.Advertise.HTTPS,
		"PODBOOT_ADVERTISE_API":   &c.Replica.Advertise.API,
	}
}

// LoadEnv merges PODBOOT_* environment variables over c.
func (c *Config) LoadEnv(getenv func(string) string) {
	for k, dst := range c.envVars() {
		if v := getenv(k); v != "" {
			*dst = v
		}
	}
}

// EnvNames lists the environment variables LoadEnv reads.
func EnvNames() []string {
	var c Config
	var out []string
	for k := range c.envVars() {
		out = append(out, k)
	}
	return out
}

// Validate checks the config before anything starts.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("dataDir is empty: set --data-dir, PODBOOT_DATA_DIR or dataDir in the config file")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("dataDir %q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if (c.API.TLSCert == "") != (c.API.TLSKey == "") {
		return fmt.Errorf("api: set both tlsCert and tlsKey, or neither (podboot then makes its own)")
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	if _, err := c.Replica.WithDefaults(); err != nil {
		return err
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: use text or json", c.Log.Format)
	}
	if c.API.MaxConnsPerSource < 0 || c.API.MaxConns < 0 || c.API.BodyTimeout < 0 || c.API.MaxBodyBytes < 0 || c.API.MaxBulkBodyBytes < 0 {
		return fmt.Errorf("api: maxConnsPerSource, maxConns, bodyTimeout, maxBodyBytes and maxBulkBodyBytes must not be negative (0 means the default)")
	}
	if c.Artifacts.MinCopies < 0 || c.Artifacts.CopyTimeout < 0 {
		return fmt.Errorf("artifacts: minCopies and copyTimeout must not be negative (0 means the default)")
	}
	if c.Events.Max < 0 || c.Events.MaxAge < 0 || c.Events.PruneEvery < 0 {
		return fmt.Errorf("events: max, maxAge and pruneEvery must not be negative (0 means the default)")
	}
	if err := c.PrometheusSD.Validate(); err != nil {
		return err
	}
	return nil
}

func (s *StoreConfig) validate() error {
	switch s.Kind {
	case "", "bbolt":
		s.Kind = "bbolt"
	case "etcd":
		if len(s.EndpointList()) == 0 {
			return fmt.Errorf("store etcd: set the members' client URLs with --etcd-endpoints, PODBOOT_ETCD_ENDPOINTS or store.etcd.endpoints")
		}
		if (s.Etcd.CertFile == "") != (s.Etcd.KeyFile == "") {
			return fmt.Errorf("store.etcd: set both certFile and keyFile, or neither")
		}
	default:
		return fmt.Errorf("store %q: use bbolt or etcd", s.Kind)
	}
	return nil
}

// EndpointList is Etcd.Endpoints split at commas, blanks dropped.
func (s *StoreConfig) EndpointList() []string {
	var out []string
	for _, e := range strings.Split(s.Etcd.Endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return l, fmt.Errorf("log.level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the slog logger the config asks for.
func (c *Config) NewLogger(w *os.File) *slog.Logger {
	lvl, _ := parseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
