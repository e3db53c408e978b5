package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
)

// Client talks to podboot's agent API over HTTPS, trusting only the pinned root CA.
type Client struct {
	// bases are the servers: the one the host booted from, then the other replicas;
	// cur is the index of the one in use (failover.go).
	bases []*url.URL
	cur   atomic.Int32
	host  string // HostPath(mac)
	token string
	http  *http.Client
	log   *slog.Logger
	// retryWait is the first pause before a GET that no replica answered is tried
	// again (doubling; getRounds rounds in all).
	retryWait time.Duration
}

// NewClient builds a client for the host in p. roots is the pinned root CA pool: the
// system's roots are never consulted.
func NewClient(p Params, roots *x509.CertPool, log *slog.Logger) *Client {
	tr := &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Proxy:                 nil,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}
	c := &Client{bases: append([]*url.URL{p.Server}, p.Fallback...), host: agentproto.HostPath(p.MAC), token: p.Token, http: &http.Client{Transport: tr}, log: log, retryWait: time.Second}
	return c
}

// URL resolves a path (absolute, or relative to the host's base) against the server in
// use. An absolute URL on any of the servers is moved to the one in use.
func (c *Client) URL(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("parse URL %q: %w", ref, err)
	}
	base := c.base()
	if u.IsAbs() {
		if !c.isServer(u.Host) {
			// The chain-load may only point at the servers the agent was booted with:
			// the token must not travel anywhere else.
			return "", fmt.Errorf("URL %q is not on the server %s", ref, base.Host)
		}
		u.Scheme, u.Host = base.Scheme, base.Host
	}
	hostBase := base.ResolveReference(&url.URL{Path: c.host})
	return hostBase.ResolveReference(u).String(), nil
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

func (c *Client) do(ctx context.Context, method, ref string, body any, hdr http.Header) (*http.Response, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	try := func() (*http.Response, error) { return c.doOnce(ctx, method, ref, b, body != nil, hdr) }
	if method != http.MethodGet {
		return c.failover(ctx, try)
	}
	return c.retryGet(ctx, ref, try)
}

func (c *Client) doOnce(ctx context.Context, method, ref string, b []byte, hasBody bool, hdr http.Header) (*http.Response, error) {
	u, err := c.URL(ref)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%s %s: %w", method, u, &StatusError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))})
	}
	return resp, nil
}

// Get fetches ref; the caller closes the body.
func (c *Client) Get(ctx context.Context, ref string, hdr http.Header) (*http.Response, error) {
	return c.do(ctx, http.MethodGet, ref, nil, hdr)
}

// GetBytes fetches ref into memory, refusing more than limit bytes.
func (c *Client) GetBytes(ctx context.Context, ref string, limit int64) ([]byte, error) {
	resp, err := c.Get(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ref, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", ref, limit)
	}
	return b, nil
}

// GetJSON fetches ref and decodes it into out.
func (c *Client) GetJSON(ctx context.Context, ref string, out any) error {
	b, err := c.GetBytes(ctx, ref, 1<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s: %w", ref, err)
	}
	return nil
}

// Post sends a JSON body.
func (c *Client) Post(ctx context.Context, ref string, body any) error {
	resp, err := c.do(ctx, http.MethodPost, ref, body, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Report sends a host event; a failure to report is logged, never fatal (the install
// itself does not depend on the server's bookkeeping). Retries a few times.
func (c *Client) Report(ctx context.Context, action, detail string) {
	c.log.Info("step", "action", action, "detail", detail)
	var err error
	for attempt := range reportAttempts {
		if err = c.Post(ctx, agentproto.EventsPath, agentproto.Event{Action: action, Detail: detail}); err == nil {
			return
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status < 500 {
			break
		}
		if attempt == reportAttempts-1 || !sleepCtx(ctx, time.Duration(attempt+1)*time.Second) {
			break
		}
	}
	c.log.Warn("could not report event", "action", action, "err", err)
}

// reportAttempts is how often Report sends an event, 1, 2, 3 and 4 s apart: with
// replicas, while a pod has no owner (a failover, about 7 s, docs/ha.md) every replica
// answers its agent 503.
const reportAttempts = 5

// sleepCtx waits d or until ctx ends; it reports whether the full wait elapsed. It is
// the back-off between retries of a remote call, not a synchronisation point.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
