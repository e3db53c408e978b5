package dhcprelay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/podboot/podboot/internal/ratelog"
	"github.com/podboot/podboot/pkg/podmgr"
)

// committer makes leases durable in groups: it takes every result waiting (up to
// CommitBatch), writes their leases in one store transaction and only then sends their
// replies. While one transaction syncs, the next group gathers, so the commit rate
// follows the load instead of the number of workers.
type committer struct {
	store podmgr.Store
	in    chan result
	max   int
	send  func(result) // sends the reply, if any, and counts the result
	after func(result) // host events, after the reply left
	m     *metrics
	log   interface {
		Error(msg string, args ...any)
		Info(msg string, args ...any)
		Log(ctx context.Context, level slog.Level, msg string, args ...any)
	}
	// leases is the table the handler committed the batch's leases to; now its clock.
	leases *leaseTable
	now    func() time.Time
	// owner, when set, fences every lease write on owning its pod (owner.go).
	owner Owner
	// degraded rate-limits the log of ACKs sent for the durable part of a lease only.
	degraded ratelog.Limiter
}

// run commits until in is closed and drained. ctx must outlive the drain: callers pass
// a context that is not cancelled by shutdown.
func (c *committer) run(ctx context.Context) {
	batch := make([]result, 0, c.max)
	for first := range c.in {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < c.max {
			select {
			case r, ok := <-c.in:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.commit(ctx, batch)
	}
}

func (c *committer) commit(ctx context.Context, batch []result) {
	start := time.Now()
	err := c.store.Update(ctx, func(tx podmgr.Tx) error { return writeResults(tx, batch, c.owner) })
	c.m.commitTime.Observe(time.Since(start).Seconds())
	c.m.commitBatch.Observe(float64(len(batch)))
	if err != nil {
		// Not durable: no ACK leaves for a new lease, and a renewal is answered only for
		// what the store already holds (degrade). The clients retry and the next batch
		// may succeed.
		c.m.commitErrs.Inc()
		c.log.Error("lease commit failed; ACKs withheld", "leases", len(batch), "err", err)
		c.failed(ctx, batch)
		return
	}
	for _, r := range batch {
		if r.stale {
			c.log.Info("pod deleted before its lease was written; no reply", "pod", r.pod, "host", r.persistMAC())
			c.m.packet(r.pod, r.relay, r.typ, "stale")
			continue
		}
		if r.fenced {
			c.log.Log(ctx, slog.LevelWarn, "pod no longer ours when its lease was written; no reply", "pod", r.pod, "host", r.persistMAC())
			c.table(r, func(pl *podLeases) { pl.undo(r.persist.MAC, r.prior) })
			c.m.packet(r.pod, r.relay, r.typ, "fenced")
			continue
		}
		c.table(r, func(pl *podLeases) { pl.committed(r.persist.MAC, r.prior.ip, r.prior.set) })
		c.send(r) // sends the reply, if any, and counts the result
		if c.after != nil {
			c.after(r)
		}
	}
}

// failed undoes the batch's leases in the table and sends what degrade still allows.
func (c *committer) failed(ctx context.Context, batch []result) {
	now := c.now()
	for i := range batch {
		r := &batch[i]
		c.table(*r, func(pl *podLeases) { pl.undo(r.persist.MAC, r.prior) })
		// A replica that may have lost the pod meanwhile (its session lapsed while the
		// commit waited) sends nothing: the pod's new owner answers.
		if c.owner != nil && !c.owner.Owns(r.pod) {
			c.m.packet(r.pod, r.relay, r.typ, "fenced")
			continue
		}
		if !degrade(r, now) {
			c.m.packet(r.pod, r.relay, r.typ, "commit_failed")
			continue
		}
		lvl, n := c.degraded.Level(now)
		c.log.Log(ctx, lvl, "lease commit failed; ACK sent for the stored lease time only", "pod", r.pod, "host", r.persist.MAC,
			"address", r.persist.IP, "until", r.prior.durable, "degraded_since_last_warning", n)
		c.send(*r)
	}
}

// table calls f with the lease table of r's ACKed lease, if r has one and its pod's
// table is kept.
func (c *committer) table(r result, f func(pl *podLeases)) {
	if c.leases == nil || r.prior.set.IsZero() || r.persist == nil {
		return
	}
	if pl, ok := c.leases.kept(r.pod, r.gen); ok {
		f(pl)
	}
}

// writeResults writes the leases of batch in tx. The lease of a pod deleted (or deleted
// and created again) since its packet was handled is not written and the result is marked
// stale: the store dropped that pod's leases with it, and they must not come back.
//
// With an owner, a lease of a pod this replica does not own (any more) is not written and
// the result is marked fenced; the owner key read makes the commit fail, and run again,
// if the pod changes hands before it lands.
func writeResults(tx podmgr.Tx, batch []result, owner Owner) error {
	var gens map[string]time.Time // the pods' incarnations in the store, read once per batch
	fences := map[string]bool{}
	for i := range batch {
		r := &batch[i]
		if r.persist == nil && r.remove == nil {
			continue
		}
		f, err := fenced(tx, owner, r.pod, fences)
		if err != nil {
			return err
		}
		if r.fenced = f; f {
			continue
		}
		ok, err := podIsCurrent(tx, r.pod, r.gen, &gens)
		if err != nil {
			return err
		}
		if !ok {
			r.stale = true
			continue
		}
		if r.persist != nil {
			if err := tx.PutLease(*r.persist); err != nil {
				return fmt.Errorf("write lease %s of pod %s: %w", r.persist.IP, r.pod, err)
			}
		}
		if r.remove != nil {
			if err := tx.DeleteLease(r.remove.Pod, r.remove.IP); err != nil {
				return fmt.Errorf("delete lease %s of pod %s: %w", r.remove.IP, r.pod, err)
			}
		}
	}
	return nil
}

// podIsCurrent reports whether pod exists in the store as the incarnation gen.
func podIsCurrent(tx podmgr.ReadTx, pod string, gen time.Time, gens *map[string]time.Time) (bool, error) {
	if *gens == nil {
		*gens = map[string]time.Time{}
	}
	have, seen := (*gens)[pod]
	if !seen {
		p, ok, err := tx.Pod(pod)
		if err != nil {
			return false, fmt.Errorf("read pod %s: %w", pod, err)
		}
		if ok {
			have = p.CreatedAt
		}
		(*gens)[pod] = have // the zero time when the pod is gone: no incarnation matches it
	}
	return !have.IsZero() && have.Equal(gen), nil
}
