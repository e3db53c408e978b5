package api

import (
	"net/http"
	"time"
)

// WithResponseWait returns a copy of c that waits up to d for an answer (its headers)
// instead of 5 minutes: for a call whose work on the server grows with what it carries,
// such as a bulk host import.
func (c *Client) WithResponseWait(d time.Duration) *Client {
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = d
	return &Client{base: c.base, token: c.token, http: &http.Client{Transport: tr}}
}
