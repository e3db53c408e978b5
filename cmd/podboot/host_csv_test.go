package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/podmgr"
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
			plan, err := readHostsCSV(strings.NewReader(tt.csv), "p", ".")
			hs := plan.Hosts
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

// TestReadHostsCSVSerialAndBMC: rows keyed by serial become accepts, BMC columns read
// the password from the file the row names (relative to the CSV's directory), and a
// password column, a serial row with a provisioning ip, or BMC columns without a
// driver are refused before anything is sent.
func TestReadHostsCSVSerialAndBMC(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "n1.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := "serial,mac,pod,hostname,mgmt_ip,bmc_driver,bmc_address,bmc_user,bmc_password_file,bmc_port\n" +
		"PB-1,,pod-a,rack1-node1,203.0.113.21,ipmi,192.0.2.121,admin,n1.pw,6230\n" +
		",52:54:00:00:00:02,,node2,,,,,,\n"
	plan, err := readHostsCSV(strings.NewReader(good), "p", dir)
	if err != nil {
		t.Fatal(err)
	}
	want := podmgr.SerialAccept{Serial: "PB-1", Pod: "pod-a", Hostname: "rack1-node1", ManagementIP: "203.0.113.21"}
	if len(plan.Serials) != 1 || plan.Serials[0] != want || len(plan.Hosts) != 1 || plan.Hosts[0].Pod != "p" || len(plan.BMCByMAC) != 0 {
		t.Fatalf("plan %+v", plan)
	}
	if b := plan.BMCBySerial["PB-1"]; b.Password != "s3cret" || b.Port != 6230 || b.Driver != podmgr.BMCIPMI || b.User != "admin" {
		t.Fatalf("bmc %+v", b)
	}
	addrOnly, err := readHostsCSV(strings.NewReader("mac,bmc_address\n52:54:00:00:00:01,192.0.2.9\n"), "p", dir)
	if b := addrOnly.BMCByMAC["52:54:00:00:00:01"]; err != nil || b != (bmc.Settings{Address: "192.0.2.9"}) {
		t.Fatalf("address-only row (the pod's defaults for the rest): %+v %v", b, err)
	}
	for _, tt := range []struct{ name, csv, err string }{
		{"password column", "mac,bmc_password\n52:54:00:00:00:01,x\n", "never go into a CSV"},
		{"serial with ip", "serial,hostname,ip\nPB-1,a,192.0.2.5\n", "mgmt_ip"},
		{"mac and serial", "mac,serial,hostname\n52:54:00:00:00:01,PB-1,a\n", "not both"},
		{"bmc without address", "mac,bmc_driver,bmc_user\n52:54:00:00:00:01,ipmi,admin\n", "bmc_address is empty"},
		{"missing password file", "mac,bmc_driver,bmc_address,bmc_user,bmc_password_file\n52:54:00:00:00:01,ipmi,192.0.2.9,a,nope.pw\n", "bmc_password_file"},
		{"no key column", "hostname\na\n", "no mac or serial column"},
	} {
		if _, err := readHostsCSV(strings.NewReader(tt.csv), "p", dir); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err %v, want one saying %q", tt.name, err, tt.err)
		}
	}
}
