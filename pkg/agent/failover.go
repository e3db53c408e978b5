package agent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// With several podboot replicas (docs/ha.md) the iPXE script names all of them
// (podboot.servers). A request that gets no answer from the server in use, or a 502,
// 503 or 504, goes to the next server, each tried once per request; the host's token is
// valid on all of them because tokens live in the shared store. The server that
// answered stays in use. A GET that no replica answered goes round them again after a
// pause (getRounds rounds): a handshake cut by a server busy in a boot storm must not
// fail the host.

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

// getRounds is how many times a GET goes round the replicas before the agent gives up:
// one handshake cut by a busy server (a boot storm) must not fail the host.
const getRounds = 4

// retryGet runs failover up to getRounds times while the error is one a retry could
// cure, pausing retryWait, then twice as long, between rounds. GETs are idempotent.
func (c *Client) retryGet(ctx context.Context, ref string, try func() (*http.Response, error)) (*http.Response, error) {
	wait := c.retryWait
	for round := 1; ; round++ {
		resp, err := c.failover(ctx, try)
		if err == nil || !switchable(ctx, err) || round == getRounds {
			return resp, err
		}
		c.log.Warn("no podboot replica answered; retrying", "ref", ref, "round", round, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}
