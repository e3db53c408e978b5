package storm

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Config is one storm.
type Config struct {
	Fleet  *Fleet
	Server netip.Addr     // podboot's address (ServerAddr)
	Roots  *x509.CertPool // the pinned root CA the agent trusts (podboot's CA)
	// Ramp spreads the hosts' power-on evenly over this long; 0 powers all on at once.
	Ramp time.Duration
	// HostTimeout bounds one host's boot.
	HostTimeout time.Duration
	Log         *slog.Logger
}

// Run boots every host of the fleet at once (or over the ramp) and reports. It runs in
// the network namespace that holds the sites' addresses (bench/storm's fleet side).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	env := &hostEnv{server: cfg.Server, roots: cfg.Roots, relays: map[string]*relay{}, log: cfg.Log}
	for _, p := range cfg.Fleet.Pods {
		r, err := newRelay(p, cfg.Server)
		if err != nil {
			return nil, err
		}
		defer r.close()
		env.relays[p.Name] = r
	}
	results := make([]Result, len(cfg.Fleet.Hosts))
	var wg sync.WaitGroup
	start := time.Now()
	for i, h := range cfg.Fleet.Hosts {
		var delay time.Duration
		if n := len(cfg.Fleet.Hosts); n > 1 {
			delay = cfg.Ramp * time.Duration(i) / time.Duration(n-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				results[i] = Result{MAC: h.MAC, Pod: h.Pod.Name, FailedStage: StageDHCPPXE, Err: ctx.Err().Error()}
				return
			case <-t.C:
			}
			hctx, cancel := context.WithTimeout(ctx, cfg.HostTimeout)
			defer cancel()
			results[i] = env.boot(hctx, h)
		}()
	}
	wg.Wait()
	rep := newReport(cfg.Fleet, results, start, time.Now())
	if rep.Hosts != len(cfg.Fleet.Hosts) {
		return rep, fmt.Errorf("report counts %d hosts of %d", rep.Hosts, len(cfg.Fleet.Hosts))
	}
	return rep, nil
}
