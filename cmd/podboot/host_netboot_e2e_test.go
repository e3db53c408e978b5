package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHostNetbootThroughCLI turns a host's netboot off and on through the real binary and
// checks what the gates read (the registry, through host show), who may do it, and that
// refusals say what was wrong.
func TestHostNetbootThroughCLI(t *testing.T) {
	admin, _ := startWithPodB(t)
	const mac = "52:54:00:0b:00:01"
	admin.MustRun(t, "host", "add", mac, "--pod", "pod-b")
	operator, viewer, ci := roleCLI(t, admin, "operator"), roleCLI(t, admin, "viewer"), roleCLI(t, admin, "ci")
	show := func() podmgr.Host {
		t.Helper()
		var h podmgr.Host
		if err := json.Unmarshal([]byte(admin.MustRun(t, "host", "show", mac, "-o", "json")), &h); err != nil {
			t.Fatalf("host show: %v", err)
		}
		return h
	}

	steps := []struct {
		name     string
		cli      *testutil.CLI
		args     []string
		say      string
		netboot  bool
		state    podmgr.HostState
		hostEvnt string
	}{
		{"admin turns it off", admin, []string{"off", mac}, "netboot off, state registered", false, podmgr.StateRegistered, "netboot.off"},
		{"off again changes nothing", operator, []string{"off", "52-54-00-0B-00-01"}, "already off, nothing changed", false, podmgr.StateRegistered, ""},
		{"operator turns it on", operator, []string{"on", mac}, "netboot on, state registered", true, podmgr.StateRegistered, "netboot.on"},
		{"operator turns it off", operator, []string{"off", mac}, "netboot off", false, podmgr.StateRegistered, "netboot.off"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out := st.cli.MustRun(t, append([]string{"host", "netboot"}, st.args...)...)
			if !strings.Contains(out, st.say) {
				t.Fatalf("said %q, want %q", out, st.say)
			}
			if h := show(); h.Netboot != st.netboot || h.State != st.state {
				t.Fatalf("host show: netboot %v state %s, want %v %s", h.Netboot, h.State, st.netboot, st.state)
			}
			if st.hostEvnt == "" {
				return
			}
			evs := listJSON[podmgr.Event](t, admin, "host", "events", mac)
			last := evs[len(evs)-1]
			if last.Action != st.hostEvnt || !strings.HasPrefix(last.Actor, "token:") {
				t.Fatalf("last host event %+v, want %s by a token", last, st.hostEvnt)
			}
		})
	}

	// Viewers and CI tokens may not change netboot; the host stays as it is (off).
	for _, c := range []*testutil.CLI{viewer, ci} {
		for _, arg := range []string{"on", "off"} {
			if msg := c.MustFail(t, "host", "netboot", arg, mac); !strings.Contains(msg, "HTTP 403") {
				t.Errorf("netboot %s: want 403, got %q", arg, msg)
			}
		}
	}
	if h := show(); h.Netboot {
		t.Fatal("a refused request turned netboot on")
	}

	refusals := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown MAC", []string{"on", "52:54:00:0b:00:99"}, []string{"HTTP 404", "not found: host 52:54:00:0b:00:99"}},
		{"neither off nor on", []string{"of", mac}, []string{`first argument "of": say off or on`}},
		{"MAC missing", []string{"off"}, []string{"want 2 arguments, off|on and a MAC"}},
		{"malformed MAC", []string{"off", "52:54:00:zz:00:01"}, []string{"HTTP 400", "MAC address"}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			msg := admin.MustFail(t, append([]string{"host", "netboot"}, r.args...)...)
			for _, w := range r.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}
