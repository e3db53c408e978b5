package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestServePprof: --pprof-addr serves /debug/pprof/ on loopback; any other address is
// refused at start-up.
func TestServePprof(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	port := testutil.FreeTCPPort(t)
	testutil.StartServe(t, bin, t.TempDir(), "--pprof-addr", fmt.Sprintf("127.0.0.1:%d", port))
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/cmdline", port))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "serve") {
		t.Fatalf("GET /debug/pprof/cmdline: %d %q", resp.StatusCode, b)
	}

	s := testutil.StartServeNoWait(t, bin, t.TempDir(), "--pprof-addr", "0.0.0.0:0")
	if err := s.Wait(30 * time.Second); err == nil || !strings.Contains(s.Log(), "must be a loopback address") {
		t.Fatalf("serve with a non-loopback pprof address: err %v, log:\n%s", err, s.Log())
	}
}
