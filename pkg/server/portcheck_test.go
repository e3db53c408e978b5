package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBusyPortWritesNothing: a first start whose ports are busy fails naming every busy
// port and the setting that moves it, and leaves no CA, admin token or client config.
func TestBusyPortWritesNothing(t *testing.T) {
	ports := newTestPorts(t)
	dataDir := t.TempDir()
	cfg := testConfig(t, dataDir, ports)
	hold(t, "udp", ports.tftp)
	hold(t, "tcp", ports.http)
	_, err := Open(context.Background(), cfg, discardLog(), "test")
	if err == nil {
		t.Fatal("Open succeeded with busy ports")
	}
	for _, want := range []string{"listen tftp udp " + ports.tftp, "PODBOOT_TFTP_ADDR", "listen http tcp " + ports.http, "PODBOOT_HTTP_ADDR", "nothing written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, f := range []string{AdminTokenFile, "client.json", filepath.Join("pki", "ca.pem")} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
			t.Errorf("%s was written by a start that failed on a busy port", f)
		}
	}
}
