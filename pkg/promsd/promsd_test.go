package promsd

import "testing"

func TestPorts(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		profile string
		want    int
		valid   bool
	}{
		{Config{}, "any", DefaultPort, true},
		{Config{Port: 9200}, "any", 9200, true},
		{Config{Port: 9200, ProfilePorts: map[string]int{"gpu": 9400}}, "gpu", 9400, true},
		{Config{Port: 9200, ProfilePorts: map[string]int{"gpu": 9400}}, "default", 9200, true},
		{Config{Port: 70000}, "", 0, false},
		{Config{ProfilePorts: map[string]int{"gpu": 0}}, "", 0, false},
	} {
		if err := tc.cfg.Validate(); (err == nil) != tc.valid {
			t.Errorf("%+v: Validate = %v, want valid %v", tc.cfg, err, tc.valid)
		}
		if tc.valid {
			if got := tc.cfg.port(tc.profile); got != tc.want {
				t.Errorf("%+v: port(%s) = %d, want %d", tc.cfg, tc.profile, got, tc.want)
			}
		}
	}
}

func TestVersionOf(t *testing.T) {
	for ref, want := range map[string]string{"os@7": "7", "os": "", "a@b@c": "c", "os@": ""} {
		if got := versionOf(ref); got != want {
			t.Errorf("versionOf(%q) = %q, want %q", ref, got, want)
		}
	}
}
