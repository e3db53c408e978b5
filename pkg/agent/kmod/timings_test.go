package kmod

import (
	"testing"
	"time"
)

func TestTimings(t *testing.T) {
	ms := time.Millisecond
	tm := Timings{Loads: []ModuleLoad{
		{Name: "scsi_mod", Start: 10 * ms, End: 60 * ms},
		{Name: "megaraid_sas", Start: 20 * ms, End: 720 * ms},
		{Name: "ahci", Start: 70 * ms, End: 480 * ms},
	}}
	tests := []struct{ name, got, want string }{
		{"finit sum", tm.Finit().String(), "1.16s"},
		{"slowest 2", tm.Slowest(2), "megaraid_sas=700ms ahci=410ms"},
		{"slowest more than loaded", tm.Slowest(5), "megaraid_sas=700ms ahci=410ms scsi_mod=50ms"},
		{"trace", tm.Trace(), "scsi_mod@10ms+50ms megaraid_sas@20ms+700ms ahci@70ms+410ms"},
		{"empty", Timings{}.Slowest(3), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
