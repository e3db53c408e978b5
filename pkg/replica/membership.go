package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNameInUse says another live replica holds this replica's name.
var ErrNameInUse = errors.New("replica name is held by another live replica")

// Membership is this replica's session and its view of the live replicas.
type Membership struct {
	cli    *clientv3.Client
	prefix string
	cfg    Config
	log    *slog.Logger

	mu      sync.Mutex
	self    Member
	lastAck time.Time
	// live are the members of the last read plus the suspects: members gone from the
	// list for less than ConfirmDelay (the first round of the liveness check).
	live     map[string]Member
	suspects map[string]time.Time
}

// Join grants this replica's session lease and writes its member record. A record of
// the same name still held by a live lease (this replica's previous run, killed less
// than a TTL ago, or another replica) is waited for up to 2×TTL+2s, then ErrNameInUse.
// Call Run to keep the session alive.
func Join(ctx context.Context, cli *clientv3.Client, prefix string, cfg Config, log *slog.Logger) (*Membership, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Membership{cli: cli, prefix: prefix, cfg: cfg, log: log.With("replica", cfg.Name),
		live: map[string]Member{}, suspects: map[string]time.Time{}}
	if err := m.join(ctx); err != nil {
		return nil, err
	}
	if err := m.refresh(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Membership) memberKey(name string) string { return m.prefix + "members/" + name }

// join grants a new lease and registers the member record under it.
func (m *Membership) join(ctx context.Context) error {
	gctx, cancel := context.WithTimeout(ctx, m.cfg.TTL)
	g, err := m.cli.Grant(clientv3.WithRequireLeader(gctx), int64((m.cfg.TTL+time.Second-1)/time.Second))
	cancel()
	if err != nil {
		return fmt.Errorf("replica %s: grant session lease: %w", m.cfg.Name, err)
	}
	self := Member{Name: m.cfg.Name, Advertise: m.cfg.Advertise, Started: time.Now().UTC(), Lease: int64(g.ID)}
	if err := m.register(ctx, self); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		m.cli.Revoke(rctx, g.ID) //nolint:errcheck // best effort; it expires anyway
		cancel()
		return err
	}
	m.mu.Lock()
	m.self, m.lastAck = self, time.Now()
	m.mu.Unlock()
	m.log.Info("replica joined", "lease", fmt.Sprintf("%x", g.ID), "ttl", m.cfg.TTL)
	return nil
}

// register writes self's record if no other lease holds the name.
func (m *Membership) register(ctx context.Context, self Member) error {
	key := m.memberKey(self.Name)
	deadline := time.Now().Add(2*m.cfg.TTL + 2*time.Second)
	for {
		tctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), m.cfg.TTL)
		resp, err := m.cli.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(self.encode()), clientv3.WithLease(clientv3.LeaseID(self.Lease)))).Commit()
		cancel()
		switch {
		case err != nil:
			return fmt.Errorf("replica %s: write member record: %w", self.Name, err)
		case resp.Succeeded:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("replica %s: %w (its record %s did not expire)", self.Name, ErrNameInUse, key)
		}
		m.log.Info("replica name still held by a previous session; waiting for it to expire", "key", key)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(m.cfg.Poll):
		}
		// The wait can outlast our own lease (a killed predecessor's record lives its
		// whole TTL): renew it, keepAlive only starts once we have joined.
		kctx, cancel := context.WithTimeout(ctx, m.cfg.TTL)
		_, err = m.cli.KeepAliveOnce(kctx, clientv3.LeaseID(self.Lease))
		cancel()
		if err != nil {
			return fmt.Errorf("replica %s: renew session lease while waiting for the name: %w", self.Name, err)
		}
	}
}

// Run keeps the session alive and the member list fresh until ctx ends, then revokes
// the session (so the pods move at once). A lost session (etcd unreachable for a TTL) is
// replaced by a new one as soon as etcd answers again.
func (m *Membership) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { m.keepAlive(ctx) })
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			if err := m.refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("read replica members", "err", err)
			}
		}
	}
	wg.Wait()
	return m.Leave()
}

// keepAlive renews the lease and rejoins after losing it.
func (m *Membership) keepAlive(ctx context.Context) {
	for ctx.Err() == nil {
		id := clientv3.LeaseID(m.Self().Lease)
		ch, err := m.cli.KeepAlive(ctx, id)
		if err == nil {
			for resp := range ch {
				if resp != nil && resp.TTL > 0 {
					m.mu.Lock()
					m.lastAck = time.Now()
					m.mu.Unlock()
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("replica session lost; this replica answers for no pod until it rejoins", "lease", fmt.Sprintf("%x", id))
		for ctx.Err() == nil {
			if err := m.join(ctx); err == nil {
				break
			} else if ctx.Err() == nil {
				m.log.Warn("rejoin", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(m.cfg.Poll):
			}
		}
	}
}

// Leave revokes the session: the member record and every owner key go with it.
func (m *Membership) Leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := m.cli.Revoke(ctx, clientv3.LeaseID(m.Self().Lease)); err != nil {
		return fmt.Errorf("replica %s: revoke session: %w", m.cfg.Name, err)
	}
	m.log.Info("replica left")
	return nil
}

// refresh reads the member list. A member missing from it becomes a suspect; a suspect
// still missing ConfirmDelay later, on a fresh read, is gone.
func (m *Membership) refresh(ctx context.Context) error {
	present, _, err := m.read(ctx)
	if err != nil {
		return err
	}
	m.observe(present, time.Now())
	return nil
}

// read lists the member records at one revision.
func (m *Membership) read(ctx context.Context) (map[string]Member, int64, error) {
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), m.cfg.TTL)
	defer cancel()
	resp, err := m.cli.Get(rctx, m.memberKey(""), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list replica members: %w", err)
	}
	out := map[string]Member{}
	for _, kv := range resp.Kvs {
		mb, err := decodeMember(kv.Value)
		if err != nil {
			m.log.Warn("skip member record", "key", string(kv.Key), "err", err)
			continue
		}
		out[mb.Name] = mb
	}
	return out, resp.Header.Revision, nil
}

// observe applies one read of the member list to the live view.
func (m *Membership) observe(present map[string]Member, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.live {
		if _, ok := present[name]; ok {
			continue
		}
		since, suspect := m.suspects[name]
		switch {
		case !suspect:
			m.suspects[name] = now
			m.log.Warn("replica member vanished; confirming", "member", name, "confirm_after", m.cfg.ConfirmDelay)
		case now.Sub(since) >= m.cfg.ConfirmDelay:
			delete(m.live, name)
			delete(m.suspects, name)
			m.log.Warn("replica member confirmed gone", "member", name)
		}
	}
	for name, mb := range present {
		if _, known := m.live[name]; !known {
			m.log.Info("replica member joined", "member", name)
		}
		m.live[name] = mb
		delete(m.suspects, name)
	}
}

// Self is this replica's member record (its current session).
func (m *Membership) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Name is this replica's name.
func (m *Membership) Name() string { return m.cfg.Name }

// Config is the membership's settings, defaults filled in.
func (m *Membership) Config() Config { return m.cfg }

// Alive reports whether this replica's session is certainly still held: the last
// keep-alive answer is less than 2/3 of the TTL old. A replica that is not alive
// answers for no pod (self-fencing; the commit fence is the guarantee).
func (m *Membership) Alive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self.Lease != 0 && time.Since(m.lastAck) < 2*m.cfg.TTL/3
}

// Members lists the live replicas by name: those in the last read of the member list,
// and those missing from it for less than the confirmation delay.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.live))
	for _, mb := range m.live {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// HasPeers reports whether the live view holds a replica other than this one.
func (m *Membership) HasPeers() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.live {
		if name != m.cfg.Name {
			return true
		}
	}
	return false
}

// Suspect reports whether a member has vanished and awaits confirmation.
func (m *Membership) Suspect(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.suspects[name]
	return ok
}

// Live reads the member records from etcd now (no confirmation round).
func (m *Membership) Live(ctx context.Context) ([]Member, error) {
	present, _, err := m.read(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(present))
	for _, mb := range present {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
