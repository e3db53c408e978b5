package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestProfileArtifactStatus: with an artifact lookup, create (POST) and apply (PUT) of a
// profile naming a missing artifact answer 400 naming the field; allowMissing=true
// saves it and answers the warning; a malformed reference is the profile's 400.
func TestProfileArtifactStatus(t *testing.T) {
	f := newFixture(t)
	f.api.SetArtifactLookup(func(ref string) bool { return ref == "vmlinuz" || ref == "vmlinuz@1" })
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               []string
	}{
		{"POST", "/api/v1/profiles", `{"name":"a","kernel":"vmlinuz@1"}`, http.StatusCreated, []string{`"kernel": "vmlinuz@1"`}},
		{"POST", "/api/v1/profiles", `{"name":"b","initrd":"initrd@1"}`, http.StatusBadRequest, []string{`profile b: initrd \"initrd@1\" is not in the artifact store`, "--allow-missing"}},
		{"PUT", "/api/v1/profiles/c", `{"kernel":"vmlinuz","stage2":"os@3"}`, http.StatusBadRequest, []string{`stage2 \"os@3\" is not in the artifact store`}},
		{"PUT", "/api/v1/profiles/c?allowMissing=true", `{"kernel":"vmlinuz","stage2":"os@3"}`, http.StatusOK, []string{`"warnings": [`, `"stage2 \"os@3\" is not in the artifact store"`}},
		{"PUT", "/api/v1/profiles/d?allowMissing=true", `{"kernel":"vmlinuz:1"}`, http.StatusBadRequest, []string{`kernel \"vmlinuz:1\" is not an artifact reference`}},
	} {
		code, body := f.do(t, podmgr.RoleAdmin, tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s %s: answer lacks %s:\n%s", tc.method, tc.path, tc.body, w, body)
			}
		}
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": true, "d": false} {
		if _, ok := f.mgr.Registry().Profile(name); ok != want {
			t.Errorf("profile %s stored: %v, want %v", name, ok, want)
		}
	}
}
