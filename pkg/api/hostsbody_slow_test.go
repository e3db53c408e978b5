package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestBulkHostsBodyKeepsMoving: a bulk import body that takes longer than the body
// timeout to read but keeps moving (as when the server decodes 128,000 hosts while busy)
// is accepted, not answered 408; the slow-client floor is the uploads' (StreamChunk per
// body timeout).
func TestBulkHostsBodyKeepsMoving(t *testing.T) {
	f := newFixture(t)
	f.seed(t)
	f.api.SetLimits(Limits{BodyTimeout: time.Second})
	var req HostsRequest
	for i := range 3000 {
		req.Hosts = append(req.Hosts, podmgr.Host{MAC: fmt.Sprintf("52:54:00:01:%02x:%02x", i>>8, i&0xff), Pod: "pod-a"})
	}
	body, _ := json.Marshal(req)
	// 64 KiB every 400 ms: the whole body takes about 2.5 times the body timeout.
	r, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/hosts", &testutil.Trickle{B: body, Chunk: StreamChunk, Every: 400 * time.Millisecond})
	r.ContentLength = int64(len(body))
	r.Header.Set("Authorization", "Bearer "+f.tokens[podmgr.RoleAdmin])
	start := time.Now()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("a %d-byte body that kept moving for %s: %d %s", len(body), time.Since(start).Round(time.Millisecond), resp.StatusCode, b)
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Fatalf("the body arrived in %s: it did not outlast the 1 s body timeout", took)
	}
	if n := f.mgr.Registry().HostCount("pod-a"); n != 3001 {
		t.Fatalf("pod-a has %d hosts, want 3001", n)
	}
}
