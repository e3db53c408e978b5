package bmc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// pollActor is who the power poll's events name.
var pollActor = podmgr.Actor{Name: "bmc-poll", Source: "podboot"}

// Poller reads every BMC's power state periodically, with at most Concurrency BMCs at
// once. It writes an event only when something changes: the power state moved
// (bmc.power.state), the BMC says off while podboot expects the host to be booting or
// installing (bmc.power.unexpected-off), or the BMC stopped answering. A BMC that does
// not answer is reported only when the next poll fails too: one lost UDP packet is not
// an outage.
type Poller struct {
	svc         *Service
	concurrency int

	mu   sync.Mutex
	last map[string]pollState
}

type pollState struct {
	power    PowerState
	failures int
	reported bool // the outage was reported
}

// NewPoller polls through svc with at most concurrency BMCs at once (minimum 1).
func NewPoller(svc *Service, concurrency int) *Poller {
	return &Poller{svc: svc, concurrency: max(concurrency, 1), last: map[string]pollState{}}
}

// Run polls every interval until ctx ends.
func (p *Poller) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.svc.log.Warn("bmc power poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// expectsOn: hosts in these states are booting into an install and should be powered.
func expectsOn(s podmgr.HostState) bool {
	return s == podmgr.StateOffered || s == podmgr.StateBooting || s == podmgr.StateVerified || s == podmgr.StateInstalling
}

// PollOnce reads every BMC once.
func (p *Poller) PollOnce(ctx context.Context) error {
	var macs []string
	err := p.svc.mgr.Store().View(ctx, func(tx podmgr.ReadTx) error {
		return tx.EachBMC(func(b podmgr.BMC) error { macs = append(macs, b.MAC); return nil })
	})
	if err != nil {
		return fmt.Errorf("list bmcs: %w", err)
	}
	sem := make(chan struct{}, p.concurrency)
	var wg sync.WaitGroup
	for _, mac := range macs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.pollOne(ctx, mac)
		}()
	}
	wg.Wait()
	return nil
}

func (p *Poller) pollOne(ctx context.Context, mac string) {
	c, _, err := p.svc.open(ctx, mac)
	if err != nil {
		return
	}
	if r, ok := c.(*redfishBMC); ok {
		defer r.close(ctx)
	}
	octx, cancel := context.WithTimeout(ctx, p.svc.timeout)
	st, err := c.PowerState(octx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	prev := p.last[mac]
	cur := prev
	var action, detail string
	switch {
	case err != nil:
		cur.failures++
		if cur.failures >= 2 && !cur.reported {
			cur.reported = true
			action, detail = "bmc.poll.failed", fmt.Sprintf("no answer on %d polls in a row: %v", cur.failures, err)
			if errors.Is(err, ErrAuth) {
				action = "bmc.poll.auth-failed"
			}
		}
	default:
		if cur.reported {
			action, detail = "bmc.poll.recovered", "the BMC answers again: power "+string(st)
		}
		cur.failures, cur.reported = 0, false
		if prev.power != "" && prev.power != st && action == "" {
			action, detail = "bmc.power.state", fmt.Sprintf("power %s (was %s)", st, prev.power)
		}
		cur.power = st
	}
	p.last[mac] = cur
	p.mu.Unlock()
	if err == nil && st == StateOff {
		if h, ok := p.svc.mgr.Registry().Host(mac); ok && expectsOn(h.State) && (prev.power != StateOff || prev.failures > 0) {
			action, detail = "bmc.power.unexpected-off", fmt.Sprintf("the BMC reports power off while the host is %s", h.State)
		}
	}
	if action == "" {
		return
	}
	p.svc.log.Warn("bmc poll", "mac", mac, "event", action, "detail", detail)
	if err := p.svc.mgr.RecordBMCAction(context.WithoutCancel(ctx), pollActor, mac, action, detail); err != nil {
		p.svc.log.Warn("record bmc poll event", "mac", mac, "err", err)
	}
}
