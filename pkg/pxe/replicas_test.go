package pxe

import (
	"context"
	"fmt"
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

// TestScriptFromANonOwner: a replica that does not own the host's pod issues no token
// (the HostToken hook refuses with podmgr.ErrNotOwner, as provision does): the script
// request is 503 with Retry-After and the refusal, and the host's record is unchanged.
func TestScriptFromANonOwner(t *testing.T) {
	need(t, "curl")
	f := newFixture(t, func(c *Config) {
		c.HostToken = func(context.Context, podmgr.Host, podmgr.HostStep) (string, error) {
			return "", fmt.Errorf("issue provisioning token: %w: replica r2 does not own pod pod-a; owner is r1", podmgr.ErrNotOwner)
		}
	})
	before, _ := f.mgr.Registry().Host(macA)
	r := curl(t, "http://"+f.svc.HTTPAddr().String()+podmgr.ScriptPath("pod-a", macA))
	if r.code != "503" || !strings.Contains(r.headers, "retry-after: 1") || !strings.Contains(string(r.body), "replica r2 does not own pod pod-a; owner is r1") {
		t.Fatalf("code %s, headers %s, body %s", r.code, r.headers, r.body)
	}
	if after, _ := f.mgr.Registry().Host(macA); after.State != before.State || after.TokenHash != before.TokenHash {
		t.Fatalf("host changed: %+v -> %+v", before, after)
	}
}
