package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// ClientConfig is what a CLI needs to reach the API; podboot writes one at first start.
type ClientConfig struct {
	Server string `json:"server" yaml:"server"`
	Token  string `json:"token" yaml:"token"`
	// CACert is the PEM of the CA that signed the server's certificate.
	CACert string `json:"caCert,omitempty" yaml:"caCert,omitempty"`
}

// Client calls the management API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient builds a client that trusts caPEM (or the system roots when empty).
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Server == "" {
		return nil, errors.New("no server: pass --server, set PODBOOT_SERVER, or use a client config")
	}
	if !strings.HasPrefix(cfg.Server, "https://") {
		return nil, fmt.Errorf("server %q: the management API is HTTPS only; write https://HOST:PORT", cfg.Server)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CACert)) {
			return nil, errors.New("CA certificate: no PEM certificate found in it")
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 5 * time.Minute}
	return &Client{base: strings.TrimRight(cfg.Server, "/"), token: cfg.Token, http: &http.Client{Transport: tr}}, nil
}

// LoadClientConfig reads a client config file (JSON).
func LoadClientConfig(path string) (ClientConfig, error) {
	var c ClientConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read client config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("client config %s is not valid JSON: %w", path, err)
	}
	return c, nil
}

// Error is an API error answer.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// Do sends a JSON request (in may be nil, or an io.Reader sent as is) and decodes the
// JSON answer into out (may be nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	_, err := c.do(ctx, method, path, in, out)
	return err
}

// EventPages reads an event listing (path, with its query) page by page, following the
// server's next-page cursor, and calls fn with each page.
func (c *Client) EventPages(ctx context.Context, path string, fn func([]podmgr.Event) error) error {
	u, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("events path %s: %w", path, err)
	}
	q := u.Query()
	for {
		u.RawQuery = q.Encode()
		var page []podmgr.Event
		h, err := c.do(ctx, http.MethodGet, u.String(), nil, &page)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		next := h.Get(HeaderNextAfter)
		if next == "" || len(page) == 0 || next == q.Get("after") {
			return nil
		}
		q.Set("after", next)
	}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case io.Reader:
		body, contentType = v, "application/octet-stream"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return resp.Header, &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Header, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.Header, nil
}

// HTTPClient exposes the configured transport (for streaming uploads).
func (c *Client) HTTPClient() *http.Client { return c.http }

// Base is the server URL.
func (c *Client) Base() string { return c.base }

// Token is the bearer token.
func (c *Client) Token() string { return c.token }
