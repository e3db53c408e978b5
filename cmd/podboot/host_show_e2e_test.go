package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestHostShowEffectiveProfile: host show and host list name the profile a host boots
// with and where it comes from (its pod, or its own override), not "-"; host show's
// JSON carries no zero time.
func TestHostShowEffectiveProfile(t *testing.T) {
	admin, files := startWithPodB(t)
	admin.MustRun(t, "profile", "apply", "-f", writeFile(t, files, "other.yaml", "name: other\n"))
	admin.MustRun(t, "host", "add", "52:54:00:0b:00:41", "--pod", "pod-b")
	admin.MustRun(t, "host", "add", "52:54:00:0b:00:42", "--pod", "pod-b", "--profile", "other")

	for mac, want := range map[string]string{"52:54:00:0b:00:41": `profile\s+default \(pod\)`, "52:54:00:0b:00:42": `profile\s+other \(host\)`} {
		if out := admin.MustRun(t, "host", "show", mac); !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("host show %s:\n%s", mac, out)
		}
		if js := admin.MustRun(t, "host", "show", mac, "-o", "json"); strings.Contains(js, "0001-01-01") || !strings.Contains(js, `"profileFrom"`) {
			t.Errorf("host show %s -o json:\n%s", mac, js)
		}
	}
	list := admin.MustRun(t, "host", "list")
	if !strings.Contains(list, "PROFILE") || !strings.Contains(list, "default (pod)") || !strings.Contains(list, "other (host)") {
		t.Errorf("host list:\n%s", list)
	}
}
