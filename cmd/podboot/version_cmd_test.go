package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/podboot/podboot/internal/testutil"
)

// TestVersionClientAndServer: version prints both versions against a running serve, and
// says plainly when none listens at the URL (no doubled Go dial error).
func TestVersionClientAndServer(t *testing.T) {
	bin := testutil.BuildPodboot(t)
	s := testutil.StartServe(t, bin, t.TempDir())
	c := testutil.NewCLI(t, bin, s)
	out := c.MustRun(t, "version")
	if !strings.Contains(out, "client  podboot ") || !strings.Contains(out, "server  podboot ") || !strings.Contains(out, "at "+s.Server) {
		t.Errorf("version against a running serve:\n%s", out)
	}
	if out := c.MustRun(t, "version", "--client"); strings.Contains(out, "server") {
		t.Errorf("version --client talks of a server:\n%s", out)
	}

	down := *c
	down.Server = fmt.Sprintf("https://127.0.0.1:%d", testutil.FreeTCPPort(t))
	_, errs, err := down.Run(context.Background(), "version")
	if err == nil {
		t.Fatal("version succeeded with no server at the URL")
	}
	want := "is `podboot serve` running at " + down.Server + "?"
	if !strings.Contains(errs, want) || strings.Contains(errs, `Get "`) {
		t.Errorf("version with no server: stderr %q, want it to ask %q, without Go's doubled error", errs, want)
	}
}
