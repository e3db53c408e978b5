package bmc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// sessionsPath is the Redfish SessionService's session collection (DSP0266: a POST of
// UserName and Password creates a session; the answer carries X-Auth-Token and the
// session's Location, which a DELETE closes).
const sessionsPath = "/redfish/v1/SessionService/Sessions"

// login opens a Redfish session once per client: every later request carries its
// X-Auth-Token instead of the password. When the POST is answered with an error, or
// with no token, the client falls back to Basic auth.
func (r *redfishBMC) login(ctx context.Context) error {
	if r.sessionTried {
		return nil
	}
	r.sessionTried = true
	body, _ := json.Marshal(map[string]string{"UserName": r.ep.User, "Password": r.ep.Password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+sessionsPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	resp, err := r.http.Do(req)
	if err != nil {
		return r.transportErr(http.MethodPost, sessionsPath, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		// No SessionService (404, 405, 501, or 401 from a BMC that checks auth before
		// routing), or sessions refused: the next request, with Basic auth, tells a
		// wrong password (401) from the rest.
		return nil
	}
	r.authToken, r.session = resp.Header.Get("X-Auth-Token"), resp.Header.Get("Location")
	if r.authToken == "" {
		r.session = ""
	}
	return nil
}

// close ends the session (when there is one) and drops idle connections. A failed
// DELETE is not an error: the BMC expires the session itself.
func (r *redfishBMC) close(ctx context.Context) {
	defer r.http.CloseIdleConnections()
	if r.session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	uri := r.session
	if uri[0] == '/' {
		uri = r.base + uri
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, uri, nil)
	if err != nil {
		return
	}
	req.Header.Set("X-Auth-Token", r.authToken)
	if resp, err := r.http.Do(req); err == nil {
		resp.Body.Close()
	}
	r.authToken, r.session = "", ""
}

// authorize puts the session token, or else Basic auth, on req.
func (r *redfishBMC) authorize(req *http.Request) {
	if r.authToken != "" {
		req.Header.Set("X-Auth-Token", r.authToken)
		return
	}
	req.SetBasicAuth(r.ep.User, r.ep.Password)
}

// transportErr classifies an error of the HTTP client.
func (r *redfishBMC) transportErr(method, path string, err error) error {
	var certErr *tls.CertificateVerificationError
	switch {
	case isTimeout(err):
		return fmt.Errorf("%w: %s %s: no answer within %v: %v", ErrUnreachable, method, path, r.ep.timeout(), err)
	case errors.As(err, &certErr):
		return fmt.Errorf("redfish %s %s: the BMC's certificate is not trusted (give --bmc-ca-cert, or --insecure-tls): %w", method, path, err)
	}
	return fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, path, err)
}
