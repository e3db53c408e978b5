package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// hostParamsPath is where podboot serves a host's parameters for a UKI boot; the MAC
// is in path form (52-54-00-12-34-56).
const hostParamsPath = "/boot/params/"

// fetchHostParams asks the server named on the signed command line, over HTTPS trusting
// only the pinned root CA, for the pod, MAC and token of the host at mac (the NIC that
// got the lease: the server checks the request comes from the leased address). It
// retries a few times: the server may not have seen the lease yet.
func fetchHostParams(ctx context.Context, p Params, roots *x509.CertPool, mac string, log *slog.Logger) (Params, error) {
	p.MAC = mac
	c := NewClient(p, roots, log)
	path := hostParamsPath + strings.ReplaceAll(mac, ":", "-")
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var body []byte
		body, err = c.GetBytes(ctx, path, 4096)
		if err == nil {
			return p.WithHostParams(string(body))
		}
		log.Warn("host parameters not served; retrying", "attempt", attempt, "err", err)
		if !sleepCtx(ctx, time.Duration(attempt)*2*time.Second) {
			break
		}
	}
	return p, fmt.Errorf("fetch host parameters for %s: %w", mac, err)
}
