package blobsync

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/artifact"
)

// BlobRoute is where a replica serves its blobs to peers (route.go).
const BlobRoute = "/api/v1/replica/blobs/"

// pullTimeout bounds one background pull of one blob; pullStall is how long a peer may
// send nothing before the pull gives up on it.
const (
	pullTimeout = 30 * time.Minute
	pullStall   = 30 * time.Second
)

// pull is one blob being fetched; later askers wait for it.
type pull struct {
	done chan struct{}
	err  error
}

// pullLoop fetches the blobs that catalog records need and this replica lacks, one at
// a time, whenever the catalog changes and every few seconds while some are missing
// (a holder may come back). A blob that failed waits longer before the next try.
func (r *Replicator) pullLoop(ctx context.Context) {
	backoff := map[string]time.Duration{}
	next := map[string]time.Time{}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
		for _, d := range r.missing() {
			if time.Now().Before(next[d]) {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, pullTimeout)
			err := r.fetch(pctx, d)
			cancel()
			if err == nil {
				delete(backoff, d)
				delete(next, d)
				continue
			}
			if ctx.Err() != nil {
				return
			}
			backoff[d] = min(max(2*backoff[d], 2*time.Second), time.Minute)
			next[d] = time.Now().Add(backoff[d])
			r.log.Warn("artifact pull failed; will retry", "digest", d, "retry_in", backoff[d], "err", err)
		}
	}
}

// missing lists the digests catalog records use that are not on this replica's disk.
func (r *Replicator) missing() []string {
	r.mu.Lock()
	var want []string
	seen := map[string]bool{}
	for _, rec := range r.catalog {
		for _, d := range rec.digests() {
			if !seen[d] {
				seen[d] = true
				want = append(want, d)
			}
		}
	}
	r.mu.Unlock()
	out := want[:0]
	for _, d := range want {
		if !r.store.HasBlob(d) {
			out = append(out, d)
		}
	}
	return out
}

// fetch brings one blob from a peer (artifact.Hooks.Fetch); concurrent askers for one
// digest share one pull.
func (r *Replicator) fetch(ctx context.Context, digest string) error {
	r.mu.Lock()
	if p := r.pulls[digest]; p != nil {
		r.mu.Unlock()
		select {
		case <-p.done:
			return p.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p := &pull{done: make(chan struct{})}
	r.pulls[digest] = p
	r.mu.Unlock()
	p.err = r.pullBlob(ctx, digest)
	r.mu.Lock()
	delete(r.pulls, digest)
	r.mu.Unlock()
	close(p.done)
	return p.err
}

// pullBlob tries the replicas that hold digest, in random order, until one sends bytes
// that hash to it; then this replica becomes a holder too.
func (r *Replicator) pullBlob(ctx context.Context, digest string) error {
	if !r.store.HasBlob(digest) {
		peers, err := r.holders(ctx, digest)
		if err != nil {
			return err
		}
		if len(peers) == 0 {
			return fmt.Errorf("pull blob %s: no other replica holds it", digest)
		}
		var errs []error
		for _, p := range peers {
			start := time.Now()
			n, err := r.pullFrom(ctx, p, digest)
			r.count(n, err)
			if err == nil {
				r.log.Info("artifact blob pulled", "digest", digest, "peer", p.ID, "bytes", n, "took", time.Since(start).Round(time.Millisecond))
				errs = nil
				break
			}
			r.log.Warn("artifact pull from peer failed", "digest", digest, "peer", p.ID, "err", err)
			errs = append(errs, fmt.Errorf("from %s: %w", p.ID, err))
			if ctx.Err() != nil {
				break
			}
		}
		if errs != nil {
			return fmt.Errorf("pull blob %s: %w", digest, errors.Join(errs...))
		}
	}
	if err := r.putHolder(ctx, digest); err != nil {
		return fmt.Errorf("pull blob %s: record this replica as holder: %w", digest, err)
	}
	return nil
}

func (r *Replicator) count(n int64, err error) {
	switch {
	case err == nil:
		r.m.pulls.WithLabelValues("ok").Inc()
		r.m.pullBytes.Add(float64(n))
	case errors.Is(err, artifact.ErrDigestMismatch):
		r.m.pulls.WithLabelValues("mismatch").Inc()
	default:
		r.m.pulls.WithLabelValues("failed").Inc()
	}
}

// holders are the peers (not this replica) holding digest, shuffled.
func (r *Replicator) holders(ctx context.Context, digest string) ([]peer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	hs, err := r.cli.Get(ctx, r.k.holders(digest), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("look up holders of blob %s: %w", digest, err)
	}
	ps, err := r.cli.Get(ctx, r.k.peers(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("look up replicas: %w", err)
	}
	known := map[string]peer{}
	for _, kv := range ps.Kvs {
		var p peer
		if err := decodeJSON(kv.Value, &p); err == nil {
			known[p.ID] = p
		}
	}
	var out []peer
	for _, kv := range hs.Kvs {
		_, id, _ := r.k.holderOf(string(kv.Key))
		if p, ok := known[id]; ok && id != r.cfg.ID {
			out = append(out, p)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if live, ok := r.live(ctx); ok { // live holders first; the others may be back already
		slices.SortStableFunc(out, func(a, b peer) int {
			return cmp.Compare(boolInt(!slices.Contains(live, a.ID)), boolInt(!slices.Contains(live, b.ID)))
		})
	}
	return out, nil
}

// pullFrom streams one blob from a peer into the store, which keeps it only when its
// SHA-256 is digest (artifact.ErrDigestMismatch otherwise).
func (r *Replicator) pullFrom(ctx context.Context, p peer, digest string) (int64, error) {
	cli, err := r.client(p)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.APIURL+BlobRoute+digest, nil)
	if err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	resp, err := cli.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	// A peer that stops sending (its host vanished without a reset) is given up after
	// pullStall without a byte, instead of holding the pull for pullTimeout.
	stall := time.AfterFunc(pullStall, func() { cancel(fmt.Errorf("no data from %s for %s", p.ID, pullStall)) })
	defer stall.Stop()
	cr := &countReader{r: resp.Body, progress: func() { stall.Reset(pullStall) }}
	if err := r.store.PutBlob(ctx, digest, cr); err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			return cr.n, fmt.Errorf("%w: %w", err, cause)
		}
		return cr.n, err
	}
	return cr.n, nil
}

// client is an HTTPS client that trusts only the CA the peer published (or the system
// roots when it published none, i.e. it serves an operator-provided certificate).
func (r *Replicator) client(p peer) (*http.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := p.ID + "\x00" + p.CAPEM
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(p.CAPEM)) {
			return nil, fmt.Errorf("replica %s published a CA certificate that does not parse", p.ID)
		}
		tlsCfg.RootCAs = pool
	}
	c := &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   2,
	}}
	r.clients[key] = c
	return c, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// countReader counts the bytes read and reports progress.
type countReader struct {
	r        io.Reader
	n        int64
	progress func()
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 && c.progress != nil {
		c.progress()
	}
	return n, err
}
