package dhcprelay

import (
	"context"
	"time"

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
	send  func(result)
	after func(result) // host events, after the reply left
	m     *metrics
	log   interface {
		Error(msg string, args ...any)
	}
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
	err := c.store.Update(ctx, func(tx podmgr.Tx) error {
		for _, r := range batch {
			if r.persist != nil {
				if err := tx.PutLease(*r.persist); err != nil {
					return err
				}
			}
			if r.remove != nil {
				if err := tx.DeleteLease(r.remove.Pod, r.remove.IP); err != nil {
					return err
				}
			}
		}
		return nil
	})
	c.m.commitTime.Observe(time.Since(start).Seconds())
	c.m.commitBatch.Observe(float64(len(batch)))
	if err != nil {
		// Not durable: no ACK leaves. The clients retry and the next batch may succeed.
		c.m.commitErrs.Inc()
		c.log.Error("lease commit failed; ACKs withheld", "leases", len(batch), "err", err)
		return
	}
	for _, r := range batch {
		if r.reply != nil {
			c.send(r)
		}
		if c.after != nil {
			c.after(r)
		}
	}
}
