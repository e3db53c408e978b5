package agent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// With several podboot replicas (docs/ha.md) the iPXE script names all of them
// (podboot.servers). A request that gets no answer from the server in use, or a 502,
// 503 or 504, goes to the next server, each tried once per request; the host's token is
// valid on all of them because tokens live in the shared store. The server that
// answered stays in use.

func (c *Client) base() *url.URL { return c.bases[int(c.cur.Load())%len(c.bases)] }

func (c *Client) isServer(host string) bool {
	for _, b := range c.bases {
		if b.Host == host {
			return true
		}
	}
	return false
}

// failover runs try against the server in use and, while it fails in a way another
// replica might not, against the next ones.
func (c *Client) failover(ctx context.Context, try func() (*http.Response, error)) (*http.Response, error) {
	var err error
	for range len(c.bases) {
		var resp *http.Response
		resp, err = try()
		if err == nil || !switchable(ctx, err) || len(c.bases) == 1 {
			return resp, err
		}
		from := c.base().Host
		c.cur.Add(1)
		c.log.Warn("server not answering; trying the next podboot replica", "from", from, "to", c.base().Host, "err", err)
	}
	return nil, err
}

// switchable: the server did not answer (connection error, timeout) or said it cannot
// serve now; not when our own context ended.
func switchable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusBadGateway || se.Status == http.StatusServiceUnavailable || se.Status == http.StatusGatewayTimeout
	}
	return true
}
