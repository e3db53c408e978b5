package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "podboot.yaml")
	if err := os.WriteFile(file, []byte("dataDir: /from/file\napi:\n  addr: \":1111\"\nlog:\n  level: debug\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PODBOOT_API_ADDR": ":2222"}
	cfg.LoadEnv(func(k string) string { return env[k] })
	if cfg.DataDir != "/from/file" || cfg.API.Addr != ":2222" || cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Fatalf("precedence defaults < file < env broken: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "dataDir: /x\napi:\n  adress: \":1\"\n", "field adress not found"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"bad format", "log:\n  format: xml\n", "log.format"},
		{"half a certificate", "api:\n  tlsCert: /a.pem\n", "tlsCert and tlsKey"},
		{"not YAML", "dataDir: [\n", "config"},
		{"negative connection cap", "api:\n  maxConnsPerSource: -1\n", "must not be negative"},
		{"negative event age", "events:\n  maxAge: -1h\n", "must not be negative"},
		{"unknown store", "store:\n  kind: redis\n", "use bbolt or etcd"},
		{"etcd without endpoints", "store:\n  kind: etcd\n", "--etcd-endpoints"},
		{"etcd half a certificate", "store:\n  kind: etcd\n  etcd:\n    endpoints: https://a:2379\n    certFile: /c.pem\n", "certFile and keyFile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := Defaults()
			err := cfg.LoadFile(file)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigLimits: the API and event limits read from YAML, durations included.
func TestConfigLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	y := "dataDir: /x\napi:\n  maxConnsPerSource: 8\n  maxConns: 100\n  bodyTimeout: 5s\n  maxBodyBytes: 4096\n" +
		"events:\n  perHost: 50\n  max: 1000\n  maxAge: 24h\n  pruneEvery: 10s\nprovision:\n  agentEventsPerMinute: 5\n"
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, e := cfg.API, cfg.Events
	if a.MaxConnsPerSource != 8 || a.MaxConns != 100 || a.BodyTimeout != 5*time.Second || a.MaxBodyBytes != 4096 ||
		e.PerHost != 50 || e.Max != 1000 || e.MaxAge != 24*time.Hour || e.PruneEvery != 10*time.Second || cfg.Provision.AgentEventsPerMinute != 5 {
		t.Fatalf("limits not read: api %+v events %+v", a, e)
	}
}

func TestConfigStoreEtcd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "podboot.yaml")
	if err := os.WriteFile(file, []byte("dataDir: /d\nstore:\n  kind: etcd\n  etcd:\n    endpoints: \"https://a:2379, https://b:2379,\"\n    prefix: /site1/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if err := cfg.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PODBOOT_ETCD_CA": "/ca.pem"}
	cfg.LoadEnv(func(k string) string { return env[k] })
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Store.EndpointList(); len(got) != 2 || got[1] != "https://b:2379" || cfg.Store.Etcd.Prefix != "/site1/" || cfg.Store.Etcd.CAFile != "/ca.pem" {
		t.Fatalf("store config %+v, endpoints %q", cfg.Store, got)
	}
	def := Defaults()
	if err := def.Validate(); err != nil || def.Store.Kind != "bbolt" {
		t.Fatalf("default store %q (%v), want bbolt", def.Store.Kind, err)
	}
}
