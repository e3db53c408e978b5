package pxe

import (
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestScriptNamesEveryReplica: with replicas, the iPXE script points the agent at this
// replica's advertised HTTPS URL and lists every live replica's for its failover.
func TestScriptNamesEveryReplica(t *testing.T) {
	need(t, "curl")
	f := newFixture(t, func(c *Config) {
		c.Replicas = func() (string, []string) {
			return "https://198.51.100.11:8443", []string{"https://198.51.100.11:8443", "https://198.51.100.12:8443"}
		}
	})
	r := curl(t, "http://"+f.svc.HTTPAddr().String()+podmgr.ScriptPath("pod-a", macA))
	if r.code != "200" {
		t.Fatalf("code %s", r.code)
	}
	for _, want := range []string{" podboot.server=https://198.51.100.11:8443 ", " podboot.servers=https://198.51.100.11:8443,https://198.51.100.12:8443 "} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("script lacks %q:\n%s", want, r.body)
		}
	}
}
