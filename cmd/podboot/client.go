package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
)

// clientFlags are the persistent flags that say how to reach the management API.
type clientFlags struct {
	server, token, caCert, clientConfig string
	output                              string
}

func (cf *clientFlags) register(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&cf.server, "server", "", "management API URL, e.g. https://podboot.example:9443 (env PODBOOT_SERVER)")
	pf.StringVar(&cf.token, "token", "", "bearer token (env PODBOOT_TOKEN)")
	pf.StringVar(&cf.caCert, "ca-cert", "", "PEM file of the CA that signed the server certificate (env PODBOOT_CA_CERT)")
	pf.StringVar(&cf.clientConfig, "client-config", "", "client config file written by 'podboot serve' at first start (env PODBOOT_CLIENT_CONFIG; default DATA_DIR/client.json when readable)")
}

// defaultClientConfig is the client config in the default data dir, if there is one.
func defaultClientConfig() string {
	dir := os.Getenv("PODBOOT_DATA_DIR")
	if dir == "" {
		dir = "/var/lib/podboot"
	}
	return filepath.Join(dir, "client.json")
}

// client resolves flags > environment > client config, and builds an API client.
func (cf *clientFlags) client() (*api.Client, error) {
	var cfg api.ClientConfig
	path := firstNonEmpty(cf.clientConfig, os.Getenv("PODBOOT_CLIENT_CONFIG"))
	explicit := path != ""
	if !explicit {
		path = defaultClientConfig()
	}
	c, err := api.LoadClientConfig(path)
	switch {
	case err == nil:
		cfg = c
	case explicit:
		return nil, err
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		// no readable default config: flags and environment must say it all
	default:
		return nil, err
	}
	cfg.Server = firstNonEmpty(cf.server, os.Getenv("PODBOOT_SERVER"), cfg.Server)
	cfg.Token = firstNonEmpty(cf.token, os.Getenv("PODBOOT_TOKEN"), cfg.Token)
	if ca := firstNonEmpty(cf.caCert, os.Getenv("PODBOOT_CA_CERT")); ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read --ca-cert: %w", err)
		}
		cfg.CACert = string(b)
	}
	if cfg.Server == "" {
		return nil, errors.New("no server given: pass --server (or PODBOOT_SERVER), or --client-config pointing at DATA_DIR/client.json")
	}
	if cfg.Token == "" {
		return nil, errors.New("no token given: pass --token (or PODBOOT_TOKEN), or --client-config; the first admin token is in DATA_DIR/admin.token")
	}
	return api.NewClient(cfg)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
