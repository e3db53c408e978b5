package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestBootHTTPSServesAgentAPI: under serve, the boot service's HTTPS listener carries the
// agent API (and checks its tokens) beside the boot files; plain HTTP never serves it.
func TestBootHTTPSServesAgentAPI(t *testing.T) {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.API.Addr = "127.0.0.1:0"
	cfg.DHCP.Addr, cfg.Boot.TFTPAddr = "-", "-"
	cfg.Boot.HTTPAddr, cfg.Boot.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0"
	s := runTestServer(t, cfg)
	ctx, admin := context.Background(), podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	const mac = "52:54:00:00:00:01"
	if _, _, err := s.mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "default"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.mgr.CreatePod(ctx, admin, loopbackPod("pod-a", "127.0.0.1", "192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.mgr.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "pod-a"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.mgr.IssueHostToken(ctx, mac, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.PKI().CertPool(), MinVersion: tls.VersionTLS12}}}
	httpsBase := "https://" + s.Boot().HTTPSAddr().String()
	httpBase := "http://" + s.Boot().HTTPAddr().String()
	chainload := agentproto.HostPath(mac) + agentproto.ChainloadPath
	tests := []struct {
		name, url, token string
		want             int
		body             string
	}{
		{"agent API, bad token", httpsBase + chainload, "pbh_bogus", http.StatusForbidden, "provisioning token refused"},
		// Past the token check: the agent API itself answers that there is no stage2.
		{"agent API, host token", httpsBase + chainload, tok, http.StatusConflict, "no stage2 image"},
		{"agent API on plain HTTP", httpBase + chainload, tok, http.StatusNotFound, "not found"},
		{"boot file over HTTPS", httpsBase + "/boot/pod-a/52-54-00-00-00-01/nothing", "", http.StatusNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.url, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.body) {
				t.Fatalf("%s: %d %s, want %d %q", tt.url, resp.StatusCode, body, tt.want, tt.body)
			}
		})
	}
}
