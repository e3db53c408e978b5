package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
)

// SetDialer makes the client open its connections with d, e.g. from a given local
// address (bench/storm plays many hosts, each from its own source, in one process).
func (c *Client) SetDialer(d *net.Dialer) {
	if tr, ok := c.http.Transport.(*http.Transport); ok {
		tr.DialContext = d.DialContext
	}
}

// CloseIdleConnections closes the kept-alive connections (a host that is done).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Installed makes the installed call-back, retrying a few times unless the server
// refuses it (4xx): the host is installed whatever the server's bookkeeping says.
func (c *Client) Installed(ctx context.Context, body agentproto.Installed) error {
	var err error
	for attempt := range 5 {
		if err = c.Post(ctx, agentproto.InstalledPath, body); err == nil {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status < 500 {
			break
		}
		if !sleepCtx(ctx, time.Duration(attempt+1)*time.Second) {
			break
		}
	}
	return fmt.Errorf("installed call-back: %w", err)
}
