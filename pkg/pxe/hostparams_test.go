package pxe

import (
	"context"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHostParams: the agent of a Secure Boot full-chain UKI gets its pod, MAC and a
// fresh token from GET /boot/params/MAC over HTTPS from its leased address (curl), and
// the timeline records it; plain HTTP, another source, a host of a profile that is not
// full, an unknown host and a HEAD get 404 and no token.
func TestHostParams(t *testing.T) {
	need(t, "curl")
	cert, key := selfSigned(t)
	f := newFixture(t, func(c *Config) { c.HTTPSAddr, c.TLSCertFile, c.TLSKeyFile = "127.0.0.1:0", cert, key })
	ctx := context.Background()
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	full := podmgr.Profile{Name: "prof-a", SecureBoot: podmgr.SecureBootFull, UKI: "stage1-uki@1", Stage2: "os@1"}
	if _, _, err := f.mgr.ApplyProfile(ctx, admin, full, false); err != nil {
		t.Fatal(err)
	}
	tlsBase := "https://" + f.svc.HTTPSAddr().String()
	path := func(mac string) string { return "/boot/params/" + podmgr.MACPath(mac) }

	r := curl(t, "-k", tlsBase+path(macA))
	body := string(r.body)
	if r.code != "200" || !strings.HasPrefix(body, "podboot.pod=pod-a podboot.mac="+macA+" podboot.token=pbh_") || !strings.Contains(r.headers, "no-store") {
		t.Fatalf("params: %s %q", r.code, body)
	}
	token := strings.TrimSpace(body[strings.LastIndex(body, "=")+1:])
	if _, err := f.mgr.CheckHostToken(macA, token); err != nil {
		t.Errorf("the served token does not authenticate the host: %v", err)
	}
	evs, _ := f.mgr.HostEvents(ctx, macA)
	if len(evs) == 0 || evs[len(evs)-1].Action != "https.params" || !strings.Contains(evs[len(evs)-1].Detail, "authenticated by the firmware") {
		t.Errorf("timeline: %+v", evs)
	}
	for _, tc := range []struct{ name, url string }{
		{"plain HTTP", "http://" + f.svc.HTTPAddr().String() + path(macA)},
		{"another source's host", tlsBase + path(macFar)},     // reserved at 127.0.0.9
		{"profile not full", tlsBase + path(macB)},            // pod-b, prof-b
		{"unknown host", tlsBase + path("52:54:00:99:99:99")}, // not in any pod
		{"bad MAC", tlsBase + "/boot/params/zz"},
	} {
		if r := curl(t, "-k", tc.url); r.code != "404" || strings.Contains(string(r.body), "token") {
			t.Errorf("%s: %s %q", tc.name, r.code, r.body)
		}
	}
	if r := curl(t, "-k", "-I", tlsBase+path(macA)); r.code != "404" {
		t.Errorf("HEAD: %s", r.code)
	}
	if _, err := f.mgr.CheckHostToken(macA, token); err != nil {
		t.Errorf("a refused request replaced the token: %v", err)
	}
}
