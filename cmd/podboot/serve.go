package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/server"
)

func newServeCmd() *cobra.Command {
	var cfgFile, dataDir, apiAddr, logLevel, logFormat string
	var pprofAddr string
	var storeKind, etcdEndpoints, etcdPrefix, etcdCert, etcdKey, etcdCA string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run podboot: management API, DHCP, TFTP and HTTP(S) boot",
		Long: `Run podboot. Settings come from the YAML file (--config or PODBOOT_SERVE_CONFIG), then
PODBOOT_* environment variables, then flags. Data lives in --data-dir (default ` + server.DefaultDataDir + `).
On first start podboot makes its CA and HTTPS certificate, an admin token (DATA_DIR/admin.token)
and a client config (DATA_DIR/client.json). SIGTERM drains every listener and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := server.Defaults()
			if cfgFile == "" {
				cfgFile = os.Getenv("PODBOOT_SERVE_CONFIG")
			}
			if cfgFile != "" {
				if err := cfg.LoadFile(cfgFile); err != nil {
					return err
				}
			}
			cfg.LoadEnv(os.Getenv)
			f := cmd.Flags()
			for name, dst := range map[string]*string{"data-dir": &cfg.DataDir, "api-addr": &cfg.API.Addr,
				"dhcp-addr": &cfg.DHCP.Addr, "tftp-addr": &cfg.Boot.TFTPAddr, "http-addr": &cfg.Boot.HTTPAddr, "https-addr": &cfg.Boot.HTTPSAddr, "log-level": &cfg.Log.Level, "log-format": &cfg.Log.Format,
				"store": &cfg.Store.Kind, "etcd-endpoints": &cfg.Store.Etcd.Endpoints, "etcd-prefix": &cfg.Store.Etcd.Prefix,
				"etcd-cert": &cfg.Store.Etcd.CertFile, "etcd-key": &cfg.Store.Etcd.KeyFile, "etcd-ca": &cfg.Store.Etcd.CAFile,
				"replica-name": &cfg.Replica.Name, "advertise-dhcp": &cfg.Replica.Advertise.DHCP, "advertise-tftp": &cfg.Replica.Advertise.TFTP,
				"advertise-http": &cfg.Replica.Advertise.HTTP, "advertise-https": &cfg.Replica.Advertise.HTTPS, "advertise-api": &cfg.Replica.Advertise.API} {
				if f.Changed(name) {
					v, _ := f.GetString(name)
					*dst = v
				}
			}
			for name, dst := range map[string]*time.Duration{"replica-ttl": &cfg.Replica.TTL, "replica-confirm-delay": &cfg.Replica.ConfirmDelay} {
				if f.Changed(name) {
					*dst, _ = f.GetDuration(name)
				}
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("config: %w", err)
			}
			log := cfg.NewLogger(os.Stderr)
			if pprofAddr == "" {
				pprofAddr = os.Getenv("PODBOOT_PPROF_ADDR")
			}
			if pprofAddr != "" {
				if err := startPprof(cmd.Context(), pprofAddr, log); err != nil {
					return err
				}
			}
			srv, err := server.Open(cmd.Context(), cfg, log, version)
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "", "YAML config file (env PODBOOT_SERVE_CONFIG)")
	f.StringVar(&dataDir, "data-dir", server.DefaultDataDir, "data directory (env PODBOOT_DATA_DIR)")
	f.StringVar(&apiAddr, "api-addr", ":9443", "management API HTTPS listen address (env PODBOOT_API_ADDR)")
	f.String("dhcp-addr", ":67", `relayed DHCP UDP listen address; "-" turns DHCP off (env PODBOOT_DHCP_ADDR)`)
	f.String("tftp-addr", ":69", `TFTP listen address; "-" turns TFTP off (env PODBOOT_TFTP_ADDR)`)
	f.String("http-addr", ":8080", "boot HTTP listen address: iPXE scripts, stage1 (env PODBOOT_HTTP_ADDR)")
	f.String("https-addr", ":8443", `boot HTTPS listen address: the agent API, stage2; "-" turns it off (env PODBOOT_HTTPS_ADDR)`)
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (env PODBOOT_LOG_LEVEL)")
	f.StringVar(&logFormat, "log-format", "text", "text or json (env PODBOOT_LOG_FORMAT)")
	f.StringVar(&pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof/ on this loopback address, e.g. 127.0.0.1:6060; off when empty (env PODBOOT_PPROF_ADDR)")
	f.StringVar(&storeKind, "store", "bbolt", "store of record: bbolt (DATA_DIR/podboot.db) or etcd (env PODBOOT_STORE; see docs/ha.md)")
	f.StringVar(&etcdEndpoints, "etcd-endpoints", "", "etcd members' client URLs, comma separated, for --store etcd (env PODBOOT_ETCD_ENDPOINTS)")
	f.StringVar(&etcdPrefix, "etcd-prefix", "/podboot/", "key prefix in etcd; one etcd can hold several installs (env PODBOOT_ETCD_PREFIX)")
	f.StringVar(&etcdCert, "etcd-cert", "", "client certificate for etcd (env PODBOOT_ETCD_CERT)")
	f.StringVar(&etcdKey, "etcd-key", "", "key of --etcd-cert (env PODBOOT_ETCD_KEY)")
	f.StringVar(&etcdCA, "etcd-ca", "", "CA certificate that verifies the etcd members (env PODBOOT_ETCD_CA)")
	addReplicaFlags(f)
	return cmd
}
