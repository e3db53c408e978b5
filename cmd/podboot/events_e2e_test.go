package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHostEventsNameActorAndAddress: host events made through the API carry the token's
// name and the client's address without its ephemeral port, the table shows both, and a
// deleted host's history keeps its deletion (host.deleted, by whom, from where).
func TestHostEventsNameActorAndAddress(t *testing.T) {
	admin, _ := startWithPodB(t)
	const mac = "52:54:00:0b:00:21"
	admin.MustRun(t, "host", "add", mac, "--pod", "pod-b")
	operator := roleCLI(t, admin, "operator")
	operator.MustRun(t, "host", "delete", mac)

	evs := listJSON[podmgr.Event](t, admin, "host", "events", mac)
	if len(evs) < 2 {
		t.Fatalf("events of the deleted host: %+v", evs)
	}
	reg, del := evs[0], evs[len(evs)-1]
	if reg.Action != "registered" || reg.Actor == "" || reg.Source != "127.0.0.1" {
		t.Errorf("registration event %+v: want an actor and source 127.0.0.1 (no port)", reg)
	}
	if del.Action != "host.deleted" || !strings.Contains(del.Actor, "operator-tok") || del.Source != "127.0.0.1" || del.Pod != "pod-b" {
		t.Errorf("last event %+v: want host.deleted by operator-tok from 127.0.0.1", del)
	}
	table := admin.MustRun(t, "host", "events", mac)
	if !strings.Contains(table, "ACTOR") || !strings.Contains(table, "SOURCE") || !strings.Contains(table, "operator-tok") || strings.Contains(table, "127.0.0.1:") {
		t.Errorf("host events table:\n%s", table)
	}
	for _, a := range listJSON[podmgr.Event](t, admin, "events", "--kind", "audit") {
		if strings.Contains(a.Source, ":") {
			t.Errorf("audit record %+v names a port", a)
		}
	}
}

// TestEventsFollow: `podboot events --follow` prints the events there are, then the new
// ones as they happen, and stops cleanly on Ctrl-C (SIGINT).
func TestEventsFollow(t *testing.T) {
	admin, _ := startWithPodB(t)
	admin.MustRun(t, "host", "add", "52:54:00:0b:00:31", "--pod", "pod-b")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, admin.Bin, "--server", admin.Server, "--token", admin.Token, "--ca-cert", admin.CACert,
		"events", "--follow", "--interval", "200ms", "--kind", "host", "-o", "json")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan podmgr.Event)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e podmgr.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
	}()
	waitFor := func(mac string) {
		t.Helper()
		for {
			select {
			case e, ok := <-lines:
				if !ok {
					t.Fatalf("events --follow ended before %s's event; stderr: %s", mac, stderr.String())
				}
				if e.MAC == mac && e.Action == "registered" {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no event of %s before the deadline", mac)
			}
		}
	}
	waitFor("52:54:00:0b:00:31")
	admin.MustRun(t, "host", "add", "52:54:00:0b:00:32", "--pod", "pod-b")
	waitFor("52:54:00:0b:00:32")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil || ctx.Err() != nil {
		t.Fatalf("events --follow after Ctrl-C: %v (deadline: %v); stderr: %s", err, ctx.Err(), stderr.String())
	}
	if errs := admin.MustFail(t, "events", "--follow", "--interval", "1ms"); !strings.Contains(errs, "--interval 1ms") {
		t.Errorf("too short an interval: %s", errs)
	}
}
