package pxe

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

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

// TestNonOwnerServesFilesButWritesNothing: with HostGuards saying this replica does not
// own pod-a, its hosts' scripts are 503 and their files are still served, without a
// host event; with HostGuards allowing it, the event's write runs the guard.
func TestNonOwnerServesFilesButWritesNothing(t *testing.T) {
	need(t, "curl")
	for _, owner := range []bool{false, true} {
		t.Run(fmt.Sprintf("owner=%v", owner), func(t *testing.T) {
			var guarded atomic.Int32
			f := newFixture(t, func(c *Config) {
				c.HostGuards = func(pod string) ([]podmgr.HostGuard, error) {
					if !owner {
						return nil, fmt.Errorf("%w: replica r2 does not own pod %s; owner is r1", podmgr.ErrNotOwner, pod)
					}
					return []podmgr.HostGuard{func(podmgr.Tx, podmgr.Host) error { guarded.Add(1); return nil }}, nil
				}
			})
			base := "http://" + f.svc.HTTPAddr().String()
			events := func() int {
				evs, err := f.mgr.HostEvents(context.Background(), macA)
				if err != nil {
					t.Fatal(err)
				}
				return len(evs)
			}
			before := events()
			if r := curl(t, base+podmgr.ScriptPath("pod-a", macA)); (r.code == "503") != !owner {
				t.Fatalf("script: %s %s", r.code, r.body)
			}
			if r := curl(t, base+podmgr.HTTPBootPath("pod-a", macA, "vmlinuz")); r.code != "200" {
				t.Fatalf("kernel: %s", r.code)
			}
			if !owner {
				if n := events(); n != before {
					t.Fatalf("the non-owner recorded %d host events", n-before)
				}
				return
			}
			testutil.WaitFor(t, 5*time.Second, "the owner's download event, through its guard", func() bool {
				return events() > before && guarded.Load() >= 1
			})
		})
	}
}
