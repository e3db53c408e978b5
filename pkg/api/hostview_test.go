package api

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHostReadsDeriveProfileAndLease: host show and host list carry the effective
// profile and where it comes from (pod or host override) and the address of a dynamic
// lease from the lease lookup; the JSON has no zero times and no empty objects.
func TestHostReadsDeriveProfileAndLease(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	const dyn, over = "52:54:00:00:00:02", "52:54:00:00:00:03"
	for _, body := range []string{
		`{"name":"other"}`,
	} {
		if code, b := f.do(t, podmgr.RoleAdmin, "PUT", "/api/v1/profiles/other", body); code >= 300 {
			t.Fatal(code, b)
		}
	}
	hosts := `{"hosts":[{"mac":"` + dyn + `","pod":"pod-a"},{"mac":"` + over + `","pod":"pod-a","profile":"other"}]}`
	if code, b := f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/hosts", hosts); code >= 300 {
		t.Fatal(code, b)
	}
	f.api.SetLeaseLookup(func(pod, mac string) (netip.Addr, bool) {
		if pod == "pod-a" && mac == dyn {
			return netip.MustParseAddr("::ffff:192.0.2.150"), true
		}
		return netip.Addr{}, false
	})
	cases := []struct {
		mac, profile, from, leased string
	}{
		{"52:54:00:00:00:01", "default", ProfileFromPod, ""},
		{dyn, "default", ProfileFromPod, "192.0.2.150"},
		{over, "other", ProfileFromHost, ""},
	}
	for _, c := range cases {
		code, body := f.do(t, podmgr.RoleViewer, "GET", "/api/v1/hosts/"+c.mac, nil)
		if code != 200 {
			t.Fatal(code, body)
		}
		var v HostView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if v.EffectiveProfile != c.profile || v.ProfileFrom != c.from || v.LeasedIP != c.leased {
			t.Errorf("%s: profile %q from %q leased %q, want %q %q %q", c.mac, v.EffectiveProfile, v.ProfileFrom, v.LeasedIP, c.profile, c.from, c.leased)
		}
		for _, bad := range []string{"0001-01-01", "tokenExpires", `"bootloaders"`, "{}", "tokenHash"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s: host JSON carries %s:\n%s", c.mac, bad, body)
			}
		}
	}
	code, body := f.do(t, podmgr.RoleViewer, "GET", "/api/v1/hosts", nil)
	var list []HostView
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != 3 {
		t.Fatalf("host list: %d %v %s", code, err, body)
	}
	for _, v := range list {
		if v.MAC == dyn && (v.LeasedIP != "192.0.2.150" || v.ProfileFrom != ProfileFromPod) {
			t.Errorf("host list: %+v", v)
		}
	}
}
