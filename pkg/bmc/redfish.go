package bmc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redfishBMC is a small Redfish client: find the (first) ComputerSystem, POST its
// ComputerSystem.Reset action, PATCH its Boot override. A Redfish session per client
// (redfishsession.go; Basic auth when the BMC has none); TLS verified against the CA
// the operator gave, or not at all when they said --insecure-tls.
type redfishBMC struct {
	ep   Endpoint
	base string
	http *http.Client

	sessionTried bool   // login ran (sessions are opened once per client)
	authToken    string // X-Auth-Token of the session; empty: Basic auth
	session      string // the session's URI, DELETEd by close
}

func newRedfish(ep Endpoint) (*redfishBMC, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case ep.InsecureTLS:
		tc.InsecureSkipVerify = true
	case ep.CACert != "":
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ep.CACert)) {
			return nil, fmt.Errorf("redfish %s: the CA certificate is not PEM", ep.Address)
		}
		tc.RootCAs = pool
	}
	host := ep.Address
	if ep.Port != 0 {
		host = net.JoinHostPort(ep.Address, strconv.Itoa(ep.Port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	tr := &http.Transport{TLSClientConfig: tc, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 10 * time.Second, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	return &redfishBMC{ep: ep, base: "https://" + host, http: &http.Client{Transport: tr, Timeout: ep.timeout(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// redfishError is the body a Redfish service sends with a 4xx/5xx.
type redfishError struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Extended []struct {
			MessageID string `json:"MessageId"`
			Message   string `json:"Message"`
		} `json:"@Message.ExtendedInfo"`
	} `json:"error"`
}

func (e redfishError) text() string {
	parts := []string{}
	for _, x := range e.Error.Extended {
		parts = append(parts, strings.TrimSpace(x.MessageID+": "+x.Message))
	}
	if len(parts) == 0 && e.Error.Message != "" {
		parts = append(parts, e.Error.Message)
	}
	return strings.Join(parts, "; ")
}

// do sends one request. Idempotent ones (GET, PATCH of the same value) are retried on
// a network error; a POST only when it never reached the BMC (the dial failed).
func (r *redfishBMC) do(ctx context.Context, method, path string, body, out any) error {
	_, err := r.doETag(ctx, method, path, "", body, out)
	return err
}

// doETag is do with an If-Match header (when ifMatch is not empty); it returns the
// response's ETag.
func (r *redfishBMC) doETag(ctx context.Context, method, path, ifMatch string, body, out any) (string, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return "", err
		}
	}
	if err := r.login(ctx); err != nil {
		return "", err
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, path, last)
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, r.base+path, bytes.NewReader(payload))
		if err != nil {
			return "", err
		}
		r.authorize(req)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("OData-Version", "4.0")
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := r.http.Do(req)
		if err != nil {
			last = err
			var op *net.OpError
			if method == http.MethodPost && !(errors.As(err, &op) && op.Op == "dial") {
				break
			}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode >= 500 && method != http.MethodPost && attempt < 2 {
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
			continue
		}
		return resp.Header.Get("ETag"), r.result(method, path, resp.StatusCode, b, out)
	}
	if errors.Is(last, context.DeadlineExceeded) || isTimeout(last) {
		return "", fmt.Errorf("%w: %s %s: no answer within %v: %v", ErrUnreachable, method, path, r.ep.timeout(), last)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(last, &certErr) {
		return "", fmt.Errorf("redfish %s %s: the BMC's certificate is not trusted (give --bmc-ca-cert, or --insecure-tls): %w", method, path, last)
	}
	return "", fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, path, last)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (r *redfishBMC) result(method, path string, code int, b []byte, out any) error {
	switch {
	case code >= 200 && code < 300:
		if out != nil && len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("redfish %s %s: bad JSON: %w", method, path, err)
			}
		}
		return nil
	}
	var re redfishError
	_ = json.Unmarshal(b, &re)
	detail := re.text()
	if detail == "" {
		detail = http.StatusText(code)
	}
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", ErrAuth, method, path, code, detail)
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented ||
		strings.Contains(detail, "ActionNotSupported") || strings.Contains(detail, "PropertyValueNotInList") || strings.Contains(detail, "ActionParameterNotSupported"):
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", ErrUnsupported, method, path, code, detail)
	}
	return fmt.Errorf("redfish %s %s: HTTP %d: %s", method, path, code, detail)
}

type odataID struct {
	ID string `json:"@odata.id"`
}

type rfSystem struct {
	etag         string  // the ETag of the GET, sent back as If-Match on the PATCH
	ID           string  `json:"@odata.id"`
	PowerState   string  `json:"PowerState"`
	VirtualMedia odataID `json:"VirtualMedia"`
	Links        struct {
		ManagedBy []odataID `json:"ManagedBy"`
	} `json:"Links"`
	Boot struct {
		Targets []string `json:"BootSourceOverrideTarget@Redfish.AllowableValues"`
	} `json:"Boot"`
	Actions struct {
		Reset struct {
			Target  string   `json:"target"`
			Allowed []string `json:"ResetType@Redfish.AllowableValues"`
		} `json:"#ComputerSystem.Reset"`
	} `json:"Actions"`
}

// system reads the first member of /redfish/v1/Systems.
func (r *redfishBMC) system(ctx context.Context) (rfSystem, error) {
	var coll struct {
		Members []odataID `json:"Members"`
	}
	if err := r.do(ctx, http.MethodGet, "/redfish/v1/Systems", nil, &coll); err != nil {
		return rfSystem{}, err
	}
	if len(coll.Members) == 0 || coll.Members[0].ID == "" {
		return rfSystem{}, fmt.Errorf("%w: redfish %s lists no ComputerSystem", ErrUnsupported, r.ep.Address)
	}
	var s rfSystem
	etag, err := r.doETag(ctx, http.MethodGet, coll.Members[0].ID, "", nil, &s)
	if err != nil {
		return rfSystem{}, err
	}
	s.etag = etag
	if s.ID == "" {
		s.ID = coll.Members[0].ID
	}
	return s, nil
}

func (r *redfishBMC) PowerState(ctx context.Context) (PowerState, error) {
	s, err := r.system(ctx)
	if err != nil {
		return "", err
	}
	switch s.PowerState {
	case "On", "PoweringOff":
		return StateOn, nil
	case "Off", "PoweringOn":
		return StateOff, nil
	}
	return PowerState(strings.ToLower(s.PowerState)), nil
}

// resetTypes lists, per action, the ResetType values to use, best first; a value the
// system does not list as allowed is skipped.
var resetTypes = map[PowerAction][]string{
	PowerOn:    {"On", "ForceOn"},
	PowerOff:   {"ForceOff"},
	PowerReset: {"ForceRestart"},
	PowerSoft:  {"GracefulShutdown", "PushPowerButton"},
	PowerCycle: {"PowerCycle"},
}

func (r *redfishBMC) Power(ctx context.Context, a PowerAction) error {
	s, err := r.system(ctx)
	if err != nil {
		return err
	}
	target := s.Actions.Reset.Target
	if target == "" {
		return fmt.Errorf("%w: %s has no ComputerSystem.Reset action", ErrUnsupported, s.ID)
	}
	want := resetTypes[a]
	if a == PowerCycle && !allowed(s.Actions.Reset.Allowed, "PowerCycle") {
		// No PowerCycle (the DMTF mockup has none): off then on, or just on when off.
		if s.PowerState == "Off" {
			want = []string{"On", "ForceOn"}
		} else {
			if err := r.reset(ctx, target, s.Actions.Reset.Allowed, []string{"ForceOff"}); err != nil {
				return err
			}
			want = []string{"On", "ForceOn"}
		}
	}
	return r.reset(ctx, target, s.Actions.Reset.Allowed, want)
}

func (r *redfishBMC) reset(ctx context.Context, target string, allowedTypes, want []string) error {
	for _, t := range want {
		if allowed(allowedTypes, t) {
			return r.do(ctx, http.MethodPost, target, map[string]string{"ResetType": t}, nil)
		}
	}
	return fmt.Errorf("%w: ResetType %s (the BMC allows %s)", ErrUnsupported, strings.Join(want, " or "), strings.Join(allowedTypes, ", "))
}

// allowed: a system that lists no allowable values allows everything (the BMC refuses).
func allowed(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

var redfishTarget = map[BootDevice]string{BootPXE: "Pxe", BootHTTP: "UefiHttp", BootDisk: "Hdd", BootCD: "Cd"}

func (r *redfishBMC) SetBootDevice(ctx context.Context, d BootDevice, once, uefi bool) error {
	s, err := r.system(ctx)
	if err != nil {
		return err
	}
	t := redfishTarget[d]
	if !allowed(s.Boot.Targets, t) {
		return fmt.Errorf("%w: boot target %s (the BMC allows %s)", ErrUnsupported, t, strings.Join(s.Boot.Targets, ", "))
	}
	enabled, mode := "Continuous", "Legacy"
	if once {
		enabled = "Once"
	}
	if uefi {
		mode = "UEFI"
	}
	body := map[string]any{"Boot": map[string]string{"BootSourceOverrideTarget": t, "BootSourceOverrideEnabled": enabled, "BootSourceOverrideMode": mode}}
	// If-Match: BMCs that use ETags refuse a PATCH without it (428) or with a stale one (412).
	_, err = r.doETag(ctx, http.MethodPatch, s.ID, s.etag, body, nil)
	return err
}
