package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/promsd"
)

// TestPrometheusDiscoversProvisionedHosts points a real Prometheus (http_sd_configs with
// podboot's CA and a viewer token of its own) at /api/v1/sd/prometheus of a real serve,
// provisions two hosts through the DHCP, boot and agent endpoints (one with the gpu
// profile, whose exporter port the config sets) and fails a third, and reads back through
// Prometheus's own /api/v1/targets that exactly the provisioned hosts are targets, at
// their management address and port, with the pod, hostname, profile and stage2 labels
// and the provisioned-at meta label. Without a token the endpoint answers 401.
func TestPrometheusDiscoversProvisionedHosts(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is missing: run scripts/deps.sh")
	}
	cfg := writeFile(t, t.TempDir(), "podboot.yaml", "prometheusSD:\n  port: 9100\n  profilePorts:\n    gpu: 9400\n")
	site := newLoopSite(t, "--config", cfg)
	admin := site.admin
	admin.MustRun(t, "host", "add", "52:54:00:5d:00:01", "--pod", "lo", "--hostname", "n1", "--mgmt-ip", "127.3.0.1")
	admin.MustRun(t, "host", "add", "52:54:00:5d:00:02", "--pod", "lo", "--hostname", "g1", "--mgmt-ip", "127.3.0.2", "--profile", "gpu")
	admin.MustRun(t, "host", "add", "52:54:00:5d:00:03", "--pod", "lo", "--hostname", "n3", "--mgmt-ip", "127.3.0.3")
	site.provision(t, "52:54:00:5d:00:01")
	site.provision(t, "52:54:00:5d:00:02")
	site.fail(t, "52:54:00:5d:00:03", "agent.verified", "signature does not verify")
	token := strings.TrimSpace(admin.MustRun(t, "token", "create", "prometheus", "--role", "viewer"))

	api := etcdAPIClient(t, site.srv)
	if code, body := api.get(t, "/api/v1/sd/prometheus"); code != http.StatusUnauthorized {
		t.Fatalf("SD without a token: HTTP %d %s, want 401", code, body)
	}

	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "token", token)
	port := testutil.FreeTCPPort(t)
	writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1m
scrape_configs:
  - job_name: podboot-hosts
    http_sd_configs:
      - url: %s/api/v1/sd/prometheus
        refresh_interval: 1s
        authorization:
          type: Bearer
          credentials_file: %s
        tls_config:
          ca_file: %s
`, site.srv.Server, tokenFile, filepath.Join(site.srv.DataDir, "pki", "ca.pem")))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	var log procLog
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})

	type target struct {
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		Labels           map[string]string `json:"labels"`
	}
	var targets []target
	testutil.WaitFor(t, 60*time.Second, "Prometheus to list podboot's hosts as targets", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/targets", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				ActiveTargets []target `json:"activeTargets"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false
		}
		targets = out.Data.ActiveTargets
		return len(targets) >= 2
	})
	want := map[string]map[string]string{
		"127.3.0.1:9100": {promsd.LabelPod: "lo", promsd.LabelHostname: "n1", promsd.LabelProfile: "default"},
		"127.3.0.2:9400": {promsd.LabelPod: "lo", promsd.LabelHostname: "g1", promsd.LabelProfile: "gpu", promsd.LabelStage2Version: "7"},
	}
	if len(targets) != len(want) {
		t.Fatalf("Prometheus has %d targets, want %d (the provisioned hosts only): %+v", len(targets), len(want), targets)
	}
	for _, tg := range targets {
		labels, ok := want[tg.Labels["instance"]]
		if !ok {
			t.Fatalf("unexpected target %+v", tg)
		}
		for k, v := range labels {
			if tg.Labels[k] != v {
				t.Fatalf("target %s: label %s = %q, want %q (labels %v)", tg.Labels["instance"], k, tg.Labels[k], v, tg.Labels)
			}
		}
		at, err := time.Parse(time.RFC3339, tg.DiscoveredLabels[promsd.MetaProvisionedAt])
		if err != nil || time.Since(at) > 10*time.Minute {
			t.Fatalf("target %s: %s = %q, want the time of its install", tg.Labels["instance"], promsd.MetaProvisionedAt, tg.DiscoveredLabels[promsd.MetaProvisionedAt])
		}
	}
}

// procLog collects a child process's output (exec calls Write from one goroutine when
// Stdout and Stderr are the same writer).
type procLog struct{ strings.Builder }

func (s *procLog) Write(p []byte) (int, error) { return s.Builder.Write(p) }
