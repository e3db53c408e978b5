package podmgr

import (
	"slices"
	"testing"
)

// TestBMCReliesOn: a host's BMC relies on its pod's defaults for exactly the fields it
// leaves empty and the defaults set; the TLS mode counts as one field.
func TestBMCReliesOn(t *testing.T) {
	full := PodBMC{Pod: "p", Driver: BMCRedfish, Port: 8443, User: "root", Password: []byte("sealed"), CACert: "PEM"}
	tests := []struct {
		name string
		host BMC
		pod  PodBMC
		want []string
	}{
		{"address only", BMC{Address: "a"}, full, []string{"driver", "port", "user", "password", "tls"}},
		{"own everything", BMC{Address: "a", Driver: BMCIPMI, Port: 623, User: "u", Password: []byte("x"), InsecureTLS: true}, full, nil},
		{"own user and password", BMC{Address: "a", User: "u", Password: []byte("x")}, full, []string{"driver", "port", "tls"}},
		{"pod sets only the user", BMC{Address: "a"}, PodBMC{Pod: "p", User: "admin"}, []string{"user"}},
		{"own CA, pod insecure", BMC{Address: "a", Driver: BMCRedfish, User: "u", Password: []byte("x"), CACert: "PEM"}, PodBMC{Pod: "p", InsecureTLS: true}, nil},
		{"empty defaults", BMC{Address: "a"}, PodBMC{Pod: "p"}, nil},
	}
	for _, tt := range tests {
		if got := tt.host.ReliesOn(tt.pod); !slices.Equal(got, tt.want) {
			t.Errorf("%s: relies on %v, want %v", tt.name, got, tt.want)
		}
	}
}
