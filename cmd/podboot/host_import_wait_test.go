package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestImportWait: an import waits the client's 5 minutes, or 10 ms a host when longer
// (a 128,000-host call gets 21 min 20 s).
func TestImportWait(t *testing.T) {
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{1, 5 * time.Minute},
		{30000, 5 * time.Minute},
		{30001, 300010 * time.Millisecond},
		{128000, 21*time.Minute + 20*time.Second},
	} {
		if got := importWait(tc.hosts); got != tc.want {
			t.Errorf("importWait(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}

// TestRegisterHostsWaitRunsOut: a server that keeps working past the wait is not
// reported as unreachable ("cannot reach ... timed out", what a 128,000-host import on a
// busy etcd printed): the error says the server has the hosts and that the outcome is
// unknown, and where to look.
func TestRegisterHostsWaitRunsOut(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body (so the server sees the client go), then stay busy until the
		// client gives up (bounded).
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := api.NewClient(api.ClientConfig{Server: srv.URL, Token: "t", CACert: string(ca)})
	if err != nil {
		t.Fatal(err)
	}
	cmd := &cobra.Command{}
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetContext(context.Background())
	start := time.Now()
	_, err = registerHosts(cmd, c, "hosts.csv", []podmgr.Host{{MAC: "52:54:00:00:00:01", Pod: "p"}}, 300*time.Millisecond)
	if err == nil {
		t.Fatal("no error from a server that did not answer")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("gave up after %s, want about the 300 ms wait", d)
	}
	for _, want := range []string{"hosts.csv: the server received the 1 hosts but did not answer within", "not known here", "host.import.rollback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if msg, ok := unreachable(err); ok {
		t.Errorf("reported as unreachable: %s", msg)
	}
}
