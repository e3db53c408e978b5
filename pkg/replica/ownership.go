package replica

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Pod is what ownership needs of a pod: its name and its pin (podmgr.Pod.Replica).
type Pod struct{ Name, Pin string }

// Hooks are what ownership calls outside this package.
type Hooks struct {
	// Pods lists every pod (the registry's view).
	Pods func() []Pod
	// Load makes the replica ready to answer for pod, claimed at store revision rev:
	// its registry catches up to rev and it reads the pod's leases from the store (a read
	// after the claim, so every commit of the previous owner is in it). Ownership takes
	// effect only once it returned nil.
	Load func(ctx context.Context, pod string, rev int64) error
	// Record puts an ownership move in the audit log (best effort).
	Record func(ctx context.Context, action, pod, detail string) error
}

// Ownership keeps this replica's owner keys: it claims the pods the live membership
// assigns to it, releases those it no longer should have, and answers Owns and Fence.
type Ownership struct {
	m     *Membership
	hooks Hooks
	log   *slog.Logger
	met   *metrics

	mu sync.RWMutex
	// owned are the pods this replica answers for, with the owner key it holds.
	owned map[string]ownedPod
	// seen maps each pod to its owner's name as last read ("" for none).
	seen map[string]string
}

// ownedPod is an owner key this replica holds: its mod revision and the session lease
// it was claimed under (a rejoined replica owns nothing of its previous session).
type ownedPod struct{ modRev, lease int64 }

// NewOwnership builds the ownership of m's replica; Run drives it.
func NewOwnership(m *Membership, hooks Hooks, reg prometheus.Registerer, log *slog.Logger) (*Ownership, error) {
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ownership{m: m, hooks: hooks, log: log.With("replica", m.Name()), met: met, owned: map[string]ownedPod{}, seen: map[string]string{}}, nil
}

// Owns reports whether this replica answers for pod now: it holds the pod's owner key,
// has loaded the pod's leases, and its session is certainly alive.
//
// A replica whose session lapsed answers for nothing when it last saw other replicas
// (one of them may take its pods over). Alone, it keeps answering what the store lets
// it (OFFERs, and the degraded ACKs of renewals while etcd is down, docs/ha.md): nobody
// else could.
func (o *Ownership) Owns(pod string) bool {
	if !o.m.Alive() && o.m.HasPeers() {
		return false
	}
	lease := o.m.Self().Lease
	o.mu.RLock()
	defer o.mu.RUnlock()
	op, ok := o.owned[pod]
	return ok && op.lease == lease
}

// Fence reads pod's owner key in tx (an etcd store transaction) and reports whether it
// is this replica's, under its current session. The read makes tx's commit require the
// key unchanged, so a commit for a pod this replica lost meanwhile fails and runs again,
// and Fence then says false.
func (o *Ownership) Fence(tx podmgr.ReadTx, pod string) (bool, error) {
	b, ok, err := etcdstore.ReadGuarded(tx, OwnerKey(o.m.prefix, pod))
	if err != nil || !ok {
		return false, err
	}
	rec, err := decodeOwner(b)
	if err != nil {
		return false, err
	}
	return rec.Replica == o.m.Name() && rec.Lease == o.m.Self().Lease && o.m.Alive(), nil
}

// Name is this replica's name.
func (o *Ownership) Name() string { return o.m.Name() }

// OwnerOf is the replica that owned pod at the last read of the owner keys ("" when
// none did): what a refusal tells the client.
func (o *Ownership) OwnerOf(pod string) string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.seen[pod]
}

// Owned lists the pods this replica answers for.
func (o *Ownership) Owned() []string {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]string, 0, len(o.owned))
	for p := range o.owned {
		out = append(out, p)
	}
	return out
}

// Run reconciles every Poll until ctx ends. The owner keys go with the session when the
// membership leaves.
func (o *Ownership) Run(ctx context.Context) error {
	t := time.NewTicker(o.m.cfg.Poll)
	defer t.Stop()
	for {
		if err := o.reconcile(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("pod ownership", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// owner is a pod's owner key as read.
type owner struct {
	rec    ownerRecord
	modRev int64
}

func (o *Ownership) readOwners(ctx context.Context) (map[string]owner, error) {
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), o.m.cfg.TTL)
	defer cancel()
	resp, err := o.m.cli.Get(rctx, OwnerKey(o.m.prefix, ""), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read pod owners: %w", err)
	}
	out := map[string]owner{}
	for _, kv := range resp.Kvs {
		rec, err := decodeOwner(kv.Value)
		if err != nil {
			o.log.Warn("skip owner record", "key", string(kv.Key), "err", err)
			continue
		}
		out[strings.TrimPrefix(string(kv.Key), OwnerKey(o.m.prefix, ""))] = owner{rec, kv.ModRevision}
	}
	return out, nil
}

// reconcile compares the owner keys with what the membership assigns and moves pods.
func (o *Ownership) reconcile(ctx context.Context) error {
	alive := o.m.Alive()
	o.met.alive.Set(boolGauge(alive))
	if !alive {
		return nil // no claims or releases without a session; Owns is false meanwhile
	}
	owners, err := o.readOwners(ctx)
	if err != nil {
		return err
	}
	o.remember(owners)
	members := o.m.Members()
	o.met.members.Set(float64(len(members)))
	var liveNames []string
	settled := map[string]bool{} // live members that are not suspects
	for _, mb := range members {
		liveNames = append(liveNames, mb.Name)
		settled[mb.Name] = !o.m.Suspect(mb.Name)
	}
	self := o.m.Self()
	pods := o.hooks.Pods()
	exists := map[string]bool{}
	for _, p := range pods {
		exists[p.Name] = true
		want := p.Pin
		if want == "" || !settled[want] {
			want = Rendezvous(p.Name, liveNames)
		}
		cur, held := owners[p.Name]
		mine := held && cur.rec.Replica == self.Name && cur.rec.Lease == self.Lease
		switch {
		case mine && want != self.Name && settled[want]:
			o.release(ctx, p.Name, cur.modRev, "assigned to "+want)
		case mine:
			o.adopt(ctx, p.Name, ownedPod{cur.modRev, cur.rec.Lease})
		default:
			o.drop(ctx, p.Name, cur)
			if !held && want == self.Name {
				o.claim(ctx, p.Name, self.Lease)
			}
		}
	}
	for pod, cur := range owners { // pods deleted: let their keys go
		if !exists[pod] && cur.rec.Replica == self.Name && cur.rec.Lease == self.Lease {
			o.release(ctx, pod, cur.modRev, "pod deleted")
		}
	}
	o.mu.RLock()
	o.met.owned.Set(float64(len(o.owned)))
	o.mu.RUnlock()
	return nil
}

// remember keeps the owners' names for OwnerOf.
func (o *Ownership) remember(owners map[string]owner) {
	seen := make(map[string]string, len(owners))
	for pod, cur := range owners {
		seen[pod] = cur.rec.Replica
	}
	o.mu.Lock()
	o.seen = seen
	o.mu.Unlock()
}

// claim creates pod's owner key if nobody holds it, then adopts the pod.
func (o *Ownership) claim(ctx context.Context, pod string, lease int64) {
	key := OwnerKey(o.m.prefix, pod)
	rec := ownerRecord{Replica: o.m.Name(), Lease: lease}
	tctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), o.m.cfg.TTL)
	resp, err := o.m.cli.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(rec.encode()), clientv3.WithLease(clientv3.LeaseID(lease)))).Commit()
	cancel()
	if err != nil || !resp.Succeeded {
		if err != nil {
			o.log.Warn("claim pod", "pod", pod, "err", err)
		}
		return // someone else holds it, or the outcome is unknown: the next read tells
	}
	o.adopt(ctx, pod, ownedPod{resp.Header.Revision, lease})
}

// adopt loads pod's leases (once) and starts answering for it.
func (o *Ownership) adopt(ctx context.Context, pod string, op ownedPod) {
	o.mu.RLock()
	have, ok := o.owned[pod]
	o.mu.RUnlock()
	if ok && have == op {
		return
	}
	start := time.Now()
	if err := o.hooks.Load(ctx, pod, op.modRev); err != nil {
		o.log.Warn("load the leases of a claimed pod; not answering for it yet", "pod", pod, "err", err)
		return
	}
	o.mu.Lock()
	o.owned[pod] = op
	o.mu.Unlock()
	o.met.moves.WithLabelValues("claimed").Inc()
	o.log.Info("pod claimed; answering for it", "pod", pod, "rev", op.modRev, "load_took", time.Since(start).Round(time.Millisecond))
	o.record(ctx, "replica.claimed", pod, fmt.Sprintf("owner key revision %d", op.modRev))
}

// release stops answering for pod, then deletes its owner key if it is still ours.
func (o *Ownership) release(ctx context.Context, pod string, modRev int64, why string) {
	o.mu.Lock()
	delete(o.owned, pod)
	o.mu.Unlock()
	key := OwnerKey(o.m.prefix, pod)
	tctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), o.m.cfg.TTL)
	resp, err := o.m.cli.Txn(tctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(clientv3.OpDelete(key)).Commit()
	cancel()
	if err != nil || !resp.Succeeded {
		if err != nil {
			o.log.Warn("release pod", "pod", pod, "err", err)
		}
		return
	}
	o.met.moves.WithLabelValues("released").Inc()
	o.log.Info("pod released", "pod", pod, "why", why)
	o.record(ctx, "replica.released", pod, why)
}

// drop stops answering for a pod whose owner key is no longer ours.
func (o *Ownership) drop(ctx context.Context, pod string, cur owner) {
	o.mu.Lock()
	_, had := o.owned[pod]
	delete(o.owned, pod)
	o.mu.Unlock()
	if !had {
		return
	}
	now := "nobody"
	if cur.rec.Replica != "" {
		now = cur.rec.Replica
	}
	o.met.moves.WithLabelValues("lost").Inc()
	o.log.Warn("pod lost: its owner key is not ours any more; not answering for it", "pod", pod, "owner", now)
	o.record(ctx, "replica.lost", pod, "owner now "+now)
}

func (o *Ownership) record(ctx context.Context, action, pod, detail string) {
	if o.hooks.Record == nil {
		return
	}
	if err := o.hooks.Record(ctx, action, pod, detail); err != nil {
		o.log.Warn("record ownership event", "pod", pod, "action", action, "err", err)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
