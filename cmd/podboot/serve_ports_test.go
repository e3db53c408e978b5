package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestServeBusyPortFirstStart: serve's --http-addr moves the boot HTTP listener; on a
// busy one the first start fails naming the port and the flag, and writes no admin
// token, client config or CA.
func TestServeBusyPortFirstStart(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	dir := t.TempDir()
	s := testutil.StartServeNoWait(t, bin, dir, "--http-addr", busy)
	if err := s.Wait(30 * time.Second); err == nil {
		t.Fatalf("serve started on a busy --http-addr:\n%s", s.Log())
	}
	for _, want := range []string{fmt.Sprintf("listen http tcp %s", busy), "--http-addr", "nothing written"} {
		if !strings.Contains(s.Log(), want) {
			t.Errorf("serve's error does not say %q:\n%s", want, s.Log())
		}
	}
	if strings.Count(s.Log(), "dhcp: dhcp:") > 0 {
		t.Errorf("doubled prefix:\n%s", s.Log())
	}
	for _, f := range []string{"admin.token", "client.json", filepath.Join("pki", "ca.pem")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written by a start that failed on a busy port", f)
		}
	}
}
