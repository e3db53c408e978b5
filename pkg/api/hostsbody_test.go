package api

import (
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

func TestStreamHosts(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		msg      string // "" means accepted
	}{
		{"two hosts", `{"hosts":[{"mac":"52:54:00:00:00:01","pod":"a"},{"mac":"52:54:00:00:00:02","pod":"a"}]}`, 2, ""},
		{"null", `{"hosts":null}`, 0, ""},
		{"empty object", `{}`, 0, ""},
		{"hosts twice", `{"hosts":[],"hosts":[]}`, 0, "appears twice"},
		{"hosts in another case", `{"Hosts":[]}`, 0, "case-sensitive"},
		{"unknown key", `{"hosts":[],"more":1}`, 0, "unknown field"},
		{"trailing data", `{"hosts":[]} []`, 0, "data after the JSON value"},
		{"a host's key twice", `{"hosts":[{"mac":"52:54:00:00:00:01","mac":"52:54:00:00:00:02"}]}`, 0, `hosts[0]: key "mac" appears twice`},
		{"a host's key in another case", `{"hosts":[{"MAC":"52:54:00:00:00:01"}]}`, 0, "hosts[0]: key"},
		{"a host's unknown key", `{"hosts":[{"mac":"x"},{"colour":"red"}]}`, 0, "hosts[1]: unknown field"},
		{"not an array", `{"hosts":{}}`, 0, "must be an array"},
		{"cut short", `{"hosts":[{"mac":"x"}`, 0, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := streamHosts(strings.NewReader(tt.in))
			if tt.msg == "" {
				if err != nil || len(hosts) != tt.n {
					t.Fatalf("got %d hosts, %v; want %d", len(hosts), err, tt.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

// TestBulkImportLimit: the bulk import has its own, larger limit.
func TestBulkImportLimit(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	f.api.SetLimits(Limits{MaxBodyBytes: 1 << 10, BulkBodyBytes: 64 << 10})
	var b strings.Builder
	b.WriteString(`{"hosts":[`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"mac":"52:54:00:00:01:` + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16]) + `","pod":"pod-a"}`)
	}
	b.WriteString(`]}`)
	if code, body := f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/hosts", b.String()); code != 201 {
		t.Fatalf("100 hosts (%d bytes, over the JSON limit, under the bulk one): %d %s", b.Len(), code, body)
	}
	big := `{"hosts":[` + strings.Repeat(`{"mac":"52:54:00:00:02:01","pod":"pod-a"},`, 2000) + `{}]}`
	if code, body := f.do(t, podmgr.RoleAdmin, "POST", "/api/v1/hosts", big); code != 413 {
		t.Fatalf("import over the bulk limit: %d %s", code, body)
	}
}
