package pxe

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestBootConnectionCaps: the HTTP and HTTPS listeners close a connection over the
// per-source or the total cap at accept (before TLS) and count it by listener and cap;
// a slot freed by a closed connection serves the next request.
func TestBootConnectionCaps(t *testing.T) {
	svc, pool := newBareService(t, func(c *Config) { c.MaxConnsPerSource, c.MaxConns = 2, 3 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	for _, tc := range []struct {
		listener, url string
		client        *http.Client
	}{
		{"http", "http://" + svc.HTTPAddr().String(), &http.Client{Timeout: 5 * time.Second}},
		{"https", "https://" + svc.HTTPSAddr().String(), &http.Client{Timeout: 5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}},
	} {
		t.Run(tc.listener, func(t *testing.T) {
			addr := tc.url[len(tc.listener)+3:]
			dial := func(src string) net.Conn {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			// closedByServer: a refused connection reads EOF at once; an accepted one
			// waits for its request (or ClientHello) until the read deadline.
			closedByServer := func(c net.Conn) bool {
				c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				_, err := c.Read(make([]byte, 1))
				return !errors.Is(err, os.ErrDeadlineExceeded)
			}
			var open []net.Conn
			for i, step := range []struct {
				src, refused string
			}{
				{"127.0.0.1", ""},
				{"127.0.0.1", ""},
				{"127.0.0.1", "per_source"},
				{"127.0.0.2", ""},
				{"127.0.0.3", "total"},
			} {
				c := dial(step.src)
				if got := closedByServer(c); got != (step.refused != "") {
					t.Fatalf("connection %d from %s: closed=%v, want refused by %q", i, step.src, got, step.refused)
				}
				if step.refused == "" {
					open = append(open, c)
				}
			}
			for _, capName := range []string{"per_source", "total"} {
				if n := counterValue(t, svc.m.connRefused.WithLabelValues(tc.listener, capName)); n != 1 {
					t.Errorf("refused{listener=%s, cap=%s} = %v, want 1", tc.listener, capName, n)
				}
			}
			open[0].Close()
			testutil.WaitFor(t, 5*time.Second, "a request in the freed slot", func() bool {
				resp, err := tc.client.Get(tc.url + "/boot/pod/52-54-00-00-00-01/x")
				if err != nil {
					return false
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode == http.StatusNotFound
			})
			for _, c := range open[1:] {
				c.Close()
			}
			tc.client.CloseIdleConnections()
		})
	}
}

func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
