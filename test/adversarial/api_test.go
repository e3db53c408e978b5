package adversarial

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// apiConfig is the serve config of the API attacks: limits small enough to reach in a
// test, the same code paths as the defaults.
const apiConfig = `api:
  bodyTimeout: 2s
  maxConnsPerSource: 8
  maxConns: 64
provision:
  agentEventsPerMinute: 20
events:
  perHost: 120
`

// apiBodyBound is how long a request that does not send its body may hold a
// connection: the body timeout (2s) and room for a loaded CI machine.
const apiBodyBound = 8 * time.Second

// apiEnv is a running `podboot serve` attacked through its management API.
type apiEnv struct {
	bin    string
	srv    *testutil.Serve
	admin  *testutil.CLI
	addr   string // host:port of the management API
	tlsCfg *tls.Config
	client *http.Client
}

func apiStart(t *testing.T, dataDir, cfgYAML string) *apiEnv {
	t.Helper()
	bin := testutil.BuildPodboot(t)
	cfg := filepath.Join(t.TempDir(), "podboot.yaml")
	if err := os.WriteFile(cfg, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testutil.StartServe(t, bin, dataDir, "--config", cfg)
	admin := testutil.NewCLI(t, bin, srv)
	caPEM, err := os.ReadFile(admin.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	t.Cleanup(client.CloseIdleConnections)
	return &apiEnv{bin: bin, srv: srv, admin: admin, addr: strings.TrimPrefix(srv.Server, "https://"), tlsCfg: tlsCfg, client: client}
}

// apiDo sends one request with token (may be empty) and returns the status and body.
func (e *apiEnv) apiDo(t *testing.T, token, method, path string, body io.Reader) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.Server+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b), resp.Header
}

func (e *apiEnv) apiToken(t *testing.T, name, role string) string {
	t.Helper()
	return strings.TrimSpace(e.admin.MustRun(t, "token", "create", name, "--role", role))
}

// apiDialTLS opens a TLS connection to the API from the local address src ("" for any).
func (e *apiEnv) apiDialTLS(src string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := tls.DialWithDialer(d, "tcp", e.addr, e.tlsCfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// apiSlowBody sends a request's headers announcing a body from src and then one byte of
// it every 500ms, and returns how long the server kept the connection open.
func (e *apiEnv) apiSlowBody(t *testing.T, src, token, method, path string) time.Duration {
	t.Helper()
	c, err := e.apiDialTLS(src)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	hdr := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n", method, path, e.addr)
	if token != "" {
		hdr += "Authorization: Bearer " + token + "\r\n"
	}
	start := time.Now()
	if _, err := io.WriteString(c, hdr+"\r\n{"); err != nil {
		t.Error(err)
		return 0
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	_, _ = io.Copy(io.Discard, c) // until the server closes
	return time.Since(start)
}

// apiRSS is the serve process's peak resident set (VmHWM) in KiB.
func (e *apiEnv) apiRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.srv.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/PID/status")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// apiMetric sums the samples of the metric lines that contain every part.
func (e *apiEnv) apiMetric(t *testing.T, parts ...string) float64 {
	t.Helper()
	_, body, _ := e.apiDo(t, "", "GET", "/metrics", nil)
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		ok := !strings.HasPrefix(line, "#")
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if f := strings.Fields(line); ok && len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// TestAPISlowBodies: a POST whose body trickles in is cut within the body timeout, with
// or without a token, on every route; a push with a ci token whose body keeps moving
// is not cut however long it takes.
func TestAPISlowBodies(t *testing.T) {
	e := apiStart(t, t.TempDir(), apiConfig)
	viewer := e.apiToken(t, "adv-viewer", "viewer")
	admin := e.admin.Token
	var wg sync.WaitGroup
	cases := []struct{ name, token, method, path string }{
		{"no token", "", "POST", "/api/v1/pods"},
		{"no token, unknown route", "", "POST", "/api/v1/nothing"},
		{"bad token", "pbt_not-a-token", "PUT", "/api/v1/profiles/x"},
		{"wrong role", viewer, "POST", "/api/v1/hosts"},
		{"admin", admin, "POST", "/api/v1/pods"},
		{"admin push route", admin, "PUT", "/api/v1/images/x/1?kind=stage2"},
		{"health check", "", "GET", "/healthz"},
		{"metrics, wrong method", "", "POST", "/metrics"},
		{"outside the API", "", "POST", "/nothing"},
	}
	held := make([][5]time.Duration, len(cases))
	for i, c := range cases {
		src := fmt.Sprintf("127.0.0.%d", 10+i) // one source per case: 5 stay under the cap
		for j := range 5 {                     // several at once, as the attack did
			wg.Add(1)
			go func() {
				defer wg.Done()
				held[i][j] = e.apiSlowBody(t, src, c.token, c.method, c.path)
			}()
		}
	}
	wg.Wait()
	for i, c := range cases {
		if d := slices.Max(held[i][:]); d > apiBodyBound {
			t.Errorf("%s: a slow body held the connection %s, want at most %s", c.name, d.Round(time.Millisecond), apiBodyBound)
		}
	}

	// A push that keeps moving: 16 KiB every 200ms (64 KiB in 0.8s, the floor is 64 KiB
	// in 2s), for about 6s, three times the body timeout.
	ci := e.apiToken(t, "adv-ci", "ci")
	img := bytes.Repeat([]byte("podboot adversarial slow push\n"), (512<<10)/30)
	sig := apiSign(t, e.srv.DataDir, img)
	req, _ := http.NewRequest("PUT", e.srv.Server+"/api/v1/images/adv-slow/1?kind=stage2", &testutil.Trickle{B: img, Chunk: 16 << 10, Every: 200 * time.Millisecond})
	req.ContentLength = int64(len(img))
	req.Header.Set("Authorization", "Bearer "+ci)
	req.Header.Set("Podboot-Signature", base64.StdEncoding.EncodeToString(sig))
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("slow push: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("slow push that kept moving: %d %s, want 201", resp.StatusCode, b)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("the slow push took only %s: it did not outlast the body timeout", took)
	}

	// A push that stalls after its first 64 KiB is cut within the body timeout.
	img2 := append(bytes.Clone(img), "another version\n"...)
	sig2 := apiSign(t, e.srv.DataDir, img2)
	c, err := e.apiDialTLS("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	start = time.Now()
	fmt.Fprintf(c, "PUT /api/v1/images/adv-stall/1?kind=stage2 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nPodboot-Signature: %s\r\nContent-Length: %d\r\n\r\n",
		e.addr, ci, base64.StdEncoding.EncodeToString(sig2), len(img2))
	if _, err := c.Write(img2[:64<<10]); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("stalled push: %v", err)
	}
	b, _ = io.ReadAll(resp.Body)
	if took := time.Since(start); resp.StatusCode != http.StatusRequestTimeout || took > apiBodyBound {
		t.Fatalf("stalled push: %d %s after %s, want 408 within %s", resp.StatusCode, b, took.Round(time.Millisecond), apiBodyBound)
	}
}

// apiSign signs content with a code-signing leaf under the server's own CA.
func apiSign(t *testing.T, dataDir string, content []byte) []byte {
	t.Helper()
	return testutil.ServeSigner(t, dataDir, "adversarial ci").Sign(t, content)
}

// TestAPIConnectionsPerSource: one source cannot hold more than maxConnsPerSource
// connections; another source is still served, and a closed connection frees its slot.
func TestAPIConnectionsPerSource(t *testing.T) {
	e := apiStart(t, t.TempDir(), apiConfig)
	e.client.CloseIdleConnections()
	var held []*tls.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range 8 {
		c, err := e.apiDialTLS("127.0.0.1")
		if err != nil {
			t.Fatalf("connection %d of 8 from one source: %v", i+1, err)
		}
		held = append(held, c)
	}
	for i := range 5 {
		if c, err := e.apiDialTLS("127.0.0.1"); err == nil {
			c.Close()
			t.Fatalf("connection %d beyond the per-source cap was accepted", i+1)
		}
	}
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: e.tlsCfg,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	defer other.CloseIdleConnections()
	resp, err := other.Get(e.srv.Server + "/healthz")
	if err != nil {
		t.Fatalf("another source while the first is at its cap: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another source: %d", resp.StatusCode)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	testutil.WaitFor(t, 10*time.Second, "the first source's slots to free", func() bool {
		c, err := e.apiDialTLS("127.0.0.1")
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if n := e.apiMetric(t, "podboot_api_connections_refused_total", `cap="per_source"`); n < 5 {
		t.Fatalf("refused connections counted: %v, want >= 5", n)
	}
}

// TestAPIBodiesAndRefusals: 401/403 are counted by route and reason; a 100 MB body is
// refused early with 413 and does not grow the server's memory; strict JSON.
func TestAPIBodiesAndRefusals(t *testing.T) {
	e := apiStart(t, t.TempDir(), apiConfig)
	viewer := e.apiToken(t, "adv-viewer", "viewer")
	for range 3 {
		e.apiDo(t, "", "GET", "/api/v1/pods", nil)
		e.apiDo(t, "pbt_wrong", "GET", "/api/v1/pods", nil)
		e.apiDo(t, viewer, "POST", "/api/v1/pods", strings.NewReader(`{}`))
	}
	for _, reason := range []string{"missing_token", "invalid_token", "role"} {
		if n := e.apiMetric(t, "podboot_api_refused_total", `reason="`+reason+`"`); n < 3 {
			t.Errorf("refusals for %s counted %v times, want >= 3", reason, n)
		}
	}
	if n := e.apiMetric(t, "podboot_api_refused_total", `route="POST /api/v1/pods"`, `reason="role"`); n < 3 {
		t.Errorf("role refusals on POST /api/v1/pods counted %v times", n)
	}

	// 100 MB JSON value over a raw connection: the answer comes before the body is sent.
	before := e.apiRSS(t)
	for range 3 {
		status, body, took := e.apiHugeBody(t, 100<<20)
		if status != http.StatusRequestEntityTooLarge || len(body) > 2048 {
			t.Fatalf("100 MB body: %d (%d bytes of answer), want 413 with a short answer", status, len(body))
		}
		if took > 10*time.Second {
			t.Fatalf("100 MB body answered after %s", took)
		}
	}
	if grew := e.apiRSS(t) - before; grew > 64<<10 {
		t.Fatalf("peak RSS grew by %d KiB for three 100 MB bodies, want < 64 MiB", grew)
	}

	admin := e.admin.Token
	for _, c := range []struct{ name, body, msg string }{
		{"trailing data", `{"name":"p1"} {"name":"p2"}`, "data after the JSON value"},
		{"duplicate key", `{"name":"p1","kernel":"a","kernel":"b"}`, "appears twice"},
		{"key in another case", `{"name":"p1","Kernel":"a"}`, "case-sensitive"},
		{"unknown key, long", `{"name":"p1","` + strings.Repeat("k", 5000) + `":1}`, "unknown field"},
	} {
		t.Run("strict JSON: "+c.name, func(t *testing.T) {
			status, body, _ := e.apiDo(t, admin, "PUT", "/api/v1/profiles/p1", strings.NewReader(c.body))
			if status != 400 || !strings.Contains(body, c.msg) || len(body) > 1024 {
				t.Fatalf("%d %s, want 400 saying %q in a short answer", status, body, c.msg)
			}
		})
	}
}

// apiHugeBody posts a JSON object with one n-byte string value and returns the status,
// the answer and how long it took to come.
func (e *apiEnv) apiHugeBody(t *testing.T, n int) (int, string, time.Duration) {
	t.Helper()
	c, err := e.apiDialTLS("")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	start := time.Now()
	go func() {
		fmt.Fprintf(c, "POST /api/v1/pods HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"name\":\"",
			e.addr, e.admin.Token, n+11)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := c.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
		}
		_, _ = io.WriteString(c, "\"}")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("huge body: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), time.Since(start)
}

// TestAPIEventFlood: a host hammering the script URL and the agent API fills only its
// own ring; agent events beyond the rate are 429; event reads are paged and the CLI
// follows the pages.
func TestAPIEventFlood(t *testing.T) {
	e := apiStart(t, t.TempDir(), apiConfig)
	const mac = "52:54:00:ad:00:01"
	work := t.TempDir()
	for _, f := range []struct{ name, kind string }{{"adv-kernel", "kernel"}, {"adv-initrd", "initrd"}} {
		file := filepath.Join(work, f.name)
		if err := os.WriteFile(file, []byte(f.name), 0o644); err != nil {
			t.Fatal(err)
		}
		e.admin.MustRun(t, "image", "add", file, "--kind", f.kind, "--name", f.name)
	}
	admin := e.admin.Token
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/profiles/adv", `{"name":"adv","kernel":"adv-kernel","initrd":"adv-initrd","ipxeScript":"#!ipxe\necho token={{.Token}}\n"}`},
		{"PUT", "/api/v1/pods/adv", `{"name":"adv","match":[{"giaddr":"192.0.2.1"}],"subnets":[{"cidr":"127.0.0.0/8"}],"serverAddress":"127.0.0.1","profile":"adv"}`},
		{"POST", "/api/v1/hosts", `{"hosts":[{"mac":"` + mac + `","pod":"adv","provisioningIp":"127.0.0.1"}]}`},
	} {
		if status, body, _ := e.apiDo(t, admin, r.method, r.path, strings.NewReader(r.body)); status >= 300 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, status, body)
		}
	}
	httpAddr, httpsAddr := e.apiBootAddrs(t)

	// 80 script fetches from the host's own address: each records events (the token
	// issue and the script), more than the ring of 120 holds.
	token := ""
	for range 80 {
		resp, err := http.Get("http://" + httpAddr + "/boot/adv/" + mac + "/script.ipxe")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := regexp.MustCompile(`token=(\S+)`).FindSubmatch(b); m != nil {
			token = string(m[1])
		}
	}
	if token == "" {
		t.Fatal("no host token in the iPXE script")
	}

	// The agent floods events with its valid token.
	agent := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: e.tlsCfg}}
	defer agent.CloseIdleConnections()
	codes := map[int]int{}
	floodStart := time.Now()
	for range 100 {
		req, _ := http.NewRequest("POST", "https://"+httpsAddr+"/agent/v1/hosts/"+mac+"/events",
			strings.NewReader(`{"action":"agent.warning","detail":"`+strings.Repeat("x", 2000)+`"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := agent.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	// The burst (20) and what refilled while the flood ran (20 a minute) are accepted.
	allowed := 20 + int(time.Since(floodStart).Minutes()*20) + 1
	if accepted := codes[http.StatusNoContent]; accepted < 20 || accepted > allowed || accepted+codes[http.StatusTooManyRequests] != 100 {
		t.Fatalf("agent event flood answered %v, want %d..%d accepted and the rest 429", codes, 20, allowed)
	}

	// The ring holds: the CLI pages through exactly perHost events (two pages).
	var evs []podmgr.Event
	if err := json.Unmarshal([]byte(e.admin.MustRun(t, "host", "events", mac, "-o", "json")), &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 120 {
		t.Fatalf("the CLI shows %d events of the host, want the ring's 120", len(evs))
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("events out of order at %d", i)
		}
	}
	var all []podmgr.Event
	if err := json.Unmarshal([]byte(e.admin.MustRun(t, "events", "--kind", "host", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 120 {
		t.Fatalf("podboot events --kind host shows %d events, want the one host's ring of 120", len(all))
	}
	status, body, hdr := e.apiDo(t, admin, "GET", "/api/v1/events", nil)
	var page []podmgr.Event
	if status != 200 || json.Unmarshal([]byte(body), &page) != nil || len(page) != 100 || hdr.Get("Podboot-Next-After") == "" {
		t.Fatalf("GET /api/v1/events: %d, %d events, next %q; want the default page of 100 and a cursor", status, len(page), hdr.Get("Podboot-Next-After"))
	}
	if status, _, _ := e.apiDo(t, admin, "GET", "/api/v1/events?limit=100000", nil); status != 400 {
		t.Fatalf("limit over the maximum: %d, want 400", status)
	}
}

// apiBootAddrs reads the boot service's HTTP and HTTPS addresses from the serve log.
func (e *apiEnv) apiBootAddrs(t *testing.T) (httpAddr, httpsAddr string) {
	t.Helper()
	re := regexp.MustCompile(`msg="(https?) listening" .*?addr=(\S+)`)
	testutil.WaitFor(t, 10*time.Second, "boot listeners in the log", func() bool {
		for _, m := range re.FindAllStringSubmatch(e.srv.Log(), -1) {
			if m[1] == "http" {
				httpAddr = m[2]
			} else {
				httpsAddr = m[2]
			}
		}
		return httpAddr != "" && httpsAddr != ""
	})
	return httpAddr, httpsAddr
}

// TestAPIDiskFull: with the data dir's disk full, a change answers 507 with no path
// and no Go error text, reads keep being served, and with room again writes succeed.
func TestAPIDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	dataDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "podboot-adv", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dataDir).Run() })
	e := apiStart(t, dataDir, apiConfig)
	admin := e.admin.Token
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/profiles/adv", `{"name":"adv"}`},
		{"PUT", "/api/v1/pods/adv", `{"name":"adv","match":[{"giaddr":"192.0.2.1"}],"subnets":[{"cidr":"192.0.2.0/24"}],"serverAddress":"198.51.100.10","profile":"adv"}`},
	} {
		if status, body, _ := e.apiDo(t, admin, r.method, r.path, strings.NewReader(r.body)); status >= 300 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, status, body)
		}
	}
	filler := filepath.Join(dataDir, "filler")
	apiFillDisk(t, filler)

	var hosts []string
	for i := range 3000 {
		hosts = append(hosts, fmt.Sprintf(`{"mac":"52:54:00:ae:%02x:%02x","pod":"adv","hostname":"node-%d-%s"}`, i/256, i%256, i, strings.Repeat("h", 30)))
	}
	bulk := `{"hosts":[` + strings.Join(hosts, ",") + `]}`
	status, body, _ := e.apiDo(t, admin, "POST", "/api/v1/hosts", strings.NewReader(bulk))
	if status != http.StatusInsufficientStorage {
		t.Fatalf("bulk import on a full disk: %d %s, want 507", status, body)
	}
	for _, leak := range []string{dataDir, "podboot.db", "no space left", "write "} {
		if strings.Contains(body, leak) {
			t.Fatalf("the 507 answer carries %q: %s", leak, body)
		}
	}
	if !strings.Contains(body, "request id") {
		t.Fatalf("the 507 answer names no request id: %s", body)
	}
	if status, body, _ := e.apiDo(t, admin, "GET", "/api/v1/pods/adv", nil); status != 200 {
		t.Fatalf("read on a full disk: %d %s", status, body)
	}
	if status, _, _ := e.apiDo(t, admin, "GET", "/api/v1/hosts/52:54:00:ae:00:01", nil); status != 404 {
		t.Fatalf("a host of the failed import exists (%d): nothing may be half-written", status)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := e.apiDo(t, admin, "POST", "/api/v1/hosts", strings.NewReader(bulk)); status != http.StatusCreated {
		t.Fatalf("bulk import with room again: %d %s", status, body)
	}
}

// apiFillDisk writes file until the file system is full.
func apiFillDisk(t *testing.T, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for range 1 << 12 {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	small := make([]byte, 4096)
	for range 1 << 12 {
		if _, err := f.Write(small); err != nil {
			return
		}
	}
	t.Fatal("the disk did not fill")
}
