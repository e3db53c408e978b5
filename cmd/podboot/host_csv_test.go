package main

import (
	"strings"
	"testing"
)

// TestReadHostsCSVHeader: a repeated header column is refused (which one would win is
// a guess); a UTF-8 byte order mark before the header, as spreadsheets write, is not.
func TestReadHostsCSVHeader(t *testing.T) {
	tests := []struct {
		name, csv string
		wantErr   string // "" when the CSV must parse
		wantHost  string
	}{
		{"plain", "mac,hostname\n52:54:00:00:00:01,a\n", "", "a"},
		{"BOM", "\ufeffmac,hostname\n52:54:00:00:00:01,a\n", "", "a"},
		{"BOM and spaces", "\ufeff mac , hostname\n52:54:00:00:00:01,a\n", "", "a"},
		{"duplicate column", "mac,hostname,hostname\n52:54:00:00:00:01,a,b\n", `column "hostname" twice`, ""},
		{"duplicate in another case", "mac,Hostname,HOSTNAME\n52:54:00:00:00:01,a,b\n", `column "hostname" twice`, ""},
		{"duplicate mac", "mac,mac\n52:54:00:00:00:01,52:54:00:00:00:02\n", `column "mac" twice`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := readHostsCSV(strings.NewReader(tt.csv), "p")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v; want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != 1 || hs[0].Hostname != tt.wantHost || hs[0].MAC != "52:54:00:00:00:01" {
				t.Fatalf("hosts %+v", hs)
			}
		})
	}
}
