package pxe

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/podboot/podboot/pkg/podmgr"
)

// recordingHandler keeps the records it is given (Info and above) and counts the
// loggers derived from it.
type recordingHandler struct {
	withs *atomic.Int64
	mu    *sync.Mutex
	recs  *[]slog.Record
}

func newRecordingHandler() recordingHandler {
	return recordingHandler{withs: new(atomic.Int64), mu: new(sync.Mutex), recs: new([]slog.Record)}
}

func (h recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r.Clone())
	return nil
}

func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { h.withs.Add(1); return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { h.withs.Add(1); return h }

// attrs returns the attributes of the first record with message msg.
func (h recordingHandler) attrs(msg string) (map[string]string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		return m, true
	}
	return nil, false
}

// TestRequestsBuildNoLoggers: TFTP transfers and HTTP requests log their attributes
// with the record instead of deriving a logger (slog's With) per request, and the
// records still carry pod, host and the request's details.
func TestRequestsBuildNoLoggers(t *testing.T) {
	need(t, "curl")
	h := newRecordingHandler()
	f := newFixtureLog(t, nil, slog.New(h))
	before := h.withs.Load()
	out := filepath.Join(t.TempDir(), "out")
	if msg, err := exec.Command("curl", "-sS", "--max-time", "30", "-o", out, "tftp://127.0.0.1:"+tftpPort(f)+"/"+tftpPath("pod-a", macA, "undionly.kpxe")).CombinedOutput(); err != nil {
		t.Fatalf("tftp: %v\n%s", err, msg)
	}
	base := "http://" + f.svc.HTTPAddr().String()
	for _, path := range []string{podmgr.ScriptPath("pod-a", macA), podmgr.HTTPBootPath("pod-a", macA, "vmlinuz")} {
		if r := curl(t, base+path); r.code != "200" {
			t.Fatalf("%s: code %s", path, r.code)
		}
	}
	f.stop() // the TFTP handler logs after the client has its last block
	if n := h.withs.Load() - before; n != 0 {
		t.Errorf("%d loggers derived while serving 3 requests, want 0", n)
	}
	got, ok := h.attrs("tftp sent")
	if !ok {
		t.Fatal(`no "tftp sent" record`)
	}
	want := map[string]string{"pod": "pod-a", "host": macA, "file": "undionly.kpxe", "source": "127.0.0.1", "bytes": "70000"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tftp sent: %s=%q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["duration"]; !ok {
		t.Errorf("tftp sent: no duration (all: %v)", got)
	}
	if b, _ := os.ReadFile(out); len(b) != len(f.content["undionly.kpxe"]) {
		t.Errorf("tftp: got %d bytes", len(b))
	}
}
