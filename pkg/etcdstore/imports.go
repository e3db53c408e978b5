package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// A host import bigger than one transaction is written in parts (podmgr's
// importHosts). To keep it all-or-nothing when the serve writing it dies, the import is
// journaled (podmgr.ImportJournal):
//
//	P imports/ID           the import record: size, actor, parts and hosts written so far
//	P import-owners/ID     bound to an etcd lease the importing process keeps alive
//	P import-parts/ID/K    the MACs (and creation time) part K wrote, in the part's txn
//
// Every part's transaction requires the owner key, so once the lease is gone no part
// can commit. Every replica looks for import records without an owner (at Open, then
// every ImportSweep) and rolls them back: it deletes each part's hosts with the part
// record, then the import record, and appends an audit event (host.import.rollback) that
// says what was removed. Two replicas rolling back at once do the same idempotent
// deletes; one of them writes the event.
const (
	collImports      = "imports"
	collImportOwners = "import-owners"
	collImportParts  = "import-parts"
)

// importRecord is P imports/ID.
type importRecord struct {
	ID           string    `json:"id"`
	Actor        string    `json:"actor"`
	Started      time.Time `json:"started"`
	Hosts        int       `json:"hosts"`
	Parts        int       `json:"parts"`
	PartsWritten int       `json:"partsWritten"`
	HostsWritten int       `json:"hostsWritten"`
	// AcceptsWritten counts the discovered hosts the written parts accepted.
	AcceptsWritten int `json:"acceptsWritten,omitempty"`
}

// importPart is P import-parts/ID/K: the hosts part K registered, and the discovered
// hosts it accepted (as they were before).
type importPart struct {
	MACs     []string                `json:"macs"`
	Created  time.Time               `json:"created"`
	Accepted []podmgr.ImportedAccept `json:"accepted,omitempty"`
}

// importOwners holds the leases of the imports this process runs.
type importOwners struct {
	mu     sync.Mutex
	leases map[string]importLease
}

type importLease struct {
	id   clientv3.LeaseID
	stop context.CancelFunc
}

var _ podmgr.ImportJournal = (*Store)(nil)

// BeginImport implements podmgr.ImportJournal: it writes the import record and the
// owner key, bound to a lease this process keeps alive until EndImport or AbandonImport.
func (s *Store) BeginImport(ctx context.Context, id, actor string, hosts, parts int) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	lease, err := s.cli.Grant(c, int64(s.cfg.ImportTTL/time.Second))
	if err != nil {
		return fmt.Errorf("etcd lease for import %s: %w", id, unavailableErr(err))
	}
	rec, err := podmgr.EncodeRecord(importRecord{ID: id, Actor: actor, Started: time.Now().UTC(), Hosts: hosts, Parts: parts})
	if err != nil {
		return err
	}
	owner := s.key(collImportOwners, id)
	resp, err := s.cli.Txn(clientv3.WithRequireLeader(c)).
		If(clientv3.Compare(clientv3.CreateRevision(owner), "=", 0)).
		Then(clientv3.OpPut(s.key(collImports, id), string(rec)), clientv3.OpPut(owner, "", clientv3.WithLease(lease.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("%w: import %s exists", podmgr.ErrConflict, id)
	}
	if err != nil {
		s.revoke(lease.ID)
		return fmt.Errorf("etcd record of import %s: %w", id, unavailableErr(err))
	}
	kctx, stop := context.WithCancel(s.life)
	ka, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		stop()
		s.revoke(lease.ID)
		return fmt.Errorf("keep the lease of import %s: %w", id, err)
	}
	go func() {
		for range ka { // drain; the channel closes when the lease is lost or stopped
		}
	}()
	s.owners.mu.Lock()
	s.owners.leases[id] = importLease{lease.ID, stop}
	s.owners.mu.Unlock()
	return nil
}

// EndImport implements podmgr.ImportJournal: it removes the import's records, if this
// process still owns it. An error that wraps podmgr.ErrConflict says the import was
// abandoned meanwhile (its lease ended) and replicas roll it back. A commit whose outcome
// is unknown is tried again: finding the records gone then means the first one applied.
func (s *Store) EndImport(ctx context.Context, id string) error {
	l, ok := s.takeLease(id)
	if !ok {
		return fmt.Errorf("import %s is not this process's", id)
	}
	defer s.release(l)
	owner, rec := s.key(collImportOwners, id), s.key(collImports, id)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		c, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), s.cfg.RequestTimeout)
		resp, err := s.cli.Txn(c).
			If(clientv3.Compare(clientv3.LeaseValue(owner), "=", l.id)).
			Then(clientv3.OpDelete(rec), clientv3.OpDelete(owner),
				clientv3.OpDelete(s.dir(collImportParts, id), clientv3.WithPrefix())).
			Else(clientv3.OpGet(rec, clientv3.WithCountOnly())).
			Commit()
		cancel()
		switch {
		case err != nil:
			lastErr = fmt.Errorf("etcd: close import %s: %w", id, unavailableErr(err))
			if ctx.Err() != nil || !unavailable(err) {
				return lastErr
			}
			select {
			case <-ctx.Done():
				return lastErr
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
			continue
		case resp.Succeeded:
			return nil
		case lastErr != nil && resp.Responses[0].GetResponseRange().Count == 0:
			return nil // the attempt that failed had applied
		}
		return fmt.Errorf("%w: import %s: its lease ended before it was closed; it is rolled back", podmgr.ErrConflict, id)
	}
	return lastErr
}

// AbandonImport implements podmgr.ImportJournal: the lease goes, and replicas roll the
// import back (this one too).
func (s *Store) AbandonImport(id string) {
	if l, ok := s.takeLease(id); ok {
		s.release(l)
	}
}

func (s *Store) takeLease(id string) (importLease, bool) {
	s.owners.mu.Lock()
	defer s.owners.mu.Unlock()
	l, ok := s.owners.leases[id]
	delete(s.owners.leases, id)
	return l, ok
}

func (s *Store) release(l importLease) {
	l.stop()
	s.revoke(l.id)
}

// revoke ends a lease; when etcd cannot be reached it ends by itself after its TTL.
func (s *Store) revoke(id clientv3.LeaseID) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	_, _ = s.cli.Revoke(c, id)
}

// unavailableErr marks etcd's "cannot serve now" errors as podmgr.ErrStoreUnavailable.
func unavailableErr(err error) error {
	if unavailable(err) {
		return fmt.Errorf("%w (%w)", podmgr.ErrStoreUnavailable, err)
	}
	return err
}

// RecordImportPart implements podmgr's import part recorder on the transaction: it
// requires the owner key (the part cannot commit once the import was abandoned),
// records the part's hosts and counts them in the import record.
func (x *recordTx) RecordImportPart(id string, macs []string, created time.Time, accepted []podmgr.ImportedAccept) error {
	s := x.t.s
	if _, ok, err := x.t.get(s.key(collImportOwners, id)); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%w: import %s was abandoned (its lease ended): it is rolled back", podmgr.ErrConflict, id)
	}
	rec, ok, err := getRecord[importRecord](x.t, s.key(collImports, id))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: import %s has no record", podmgr.ErrConflict, id)
	}
	rec.PartsWritten++
	rec.HostsWritten += len(macs)
	rec.AcceptsWritten += len(accepted)
	if err := x.putRecord(s.key(collImports, id), rec); err != nil {
		return err
	}
	return x.putRecord(s.key(collImportParts, id, fmt.Sprintf("%08d", rec.PartsWritten)), importPart{MACs: macs, Created: created, Accepted: accepted})
}

// sweepImports rolls back every import whose owner is gone, now and then every
// ImportSweep until the store closes.
func (s *Store) sweepImports() {
	t := time.NewTicker(s.cfg.ImportSweep)
	defer t.Stop()
	for {
		if err := s.rollBackAbandoned(s.life); err != nil && s.life.Err() == nil && !errors.Is(err, podmgr.ErrStoreUnavailable) && !unavailable(err) {
			s.cfg.Log.Warn("roll back abandoned imports", "error", err)
		}
		select {
		case <-s.life.Done():
			return
		case <-t.C:
		}
	}
}

// rollBackAbandoned rolls back the imports without an owner key.
func (s *Store) rollBackAbandoned(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	dir := s.dir(collImports)
	resp, err := s.cli.Get(c, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) == 0 {
		return err
	}
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), dir)
		if isMarker(string(kv.Key)) || id == "" {
			continue
		}
		owner, err := s.cli.Get(c, s.key(collImportOwners, id), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if owner.Count > 0 {
			continue // its importer is alive
		}
		if err := s.rollBack(ctx, id); err != nil {
			return fmt.Errorf("import %s: %w", id, err)
		}
	}
	return nil
}

// rollBack deletes the hosts of an abandoned import, part by part, then its record.
func (s *Store) rollBack(ctx context.Context, id string) error {
	pdir := s.dir(collImportParts, id)
	c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	parts, err := s.cli.Get(c, pdir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return err
	}
	removed := 0
	for _, kv := range parts.Kvs {
		n := 0
		err := s.Update(ctx, func(tx podmgr.Tx) error {
			x := tx.(*recordTx)
			n = 0
			p, ok, err := getRecord[importPart](x.t, string(kv.Key))
			if err != nil || !ok {
				return err
			}
			for _, mac := range p.MACs {
				h, ok, err := x.Host(mac)
				if err != nil {
					return err
				}
				if !ok || !h.CreatedAt.Equal(p.Created) {
					continue // deleted or registered again since
				}
				if err := x.DeleteHost(mac); err != nil {
					return err
				}
				n++
			}
			for _, a := range p.Accepted {
				if _, err := podmgr.UndoAccept(x, a, time.Now().UTC()); err != nil {
					return err
				}
			}
			x.t.del(string(kv.Key), "")
			return nil
		})
		if err != nil {
			return err
		}
		removed += n
	}
	return s.Update(ctx, func(tx podmgr.Tx) error {
		x := tx.(*recordTx)
		rec, ok, err := getRecord[importRecord](x.t, s.key(collImports, id))
		if err != nil || !ok {
			return err // another replica finished it
		}
		x.t.del(s.key(collImports, id), "")
		detail := fmt.Sprintf("import %s of %d hosts in %d parts, started %s, was cut off after %d parts (%d hosts) when its serve stopped: the %d hosts it wrote were removed, nothing of it was imported",
			id, rec.Hosts, rec.Parts, rec.Started.Format(time.RFC3339), rec.PartsWritten, rec.HostsWritten, rec.HostsWritten)
		if rec.AcceptsWritten > 0 {
			detail += fmt.Sprintf("; the %d discovered hosts it accepted are discovered again", rec.AcceptsWritten)
		}
		s.cfg.Log.Warn("import rolled back", "import", id, "hosts", rec.Hosts, "written", rec.HostsWritten, "removedHere", removed)
		_, err = x.AppendEvent(podmgr.Event{Time: time.Now().UTC(), Kind: podmgr.KindAudit, Actor: rec.Actor, Source: "import rollback", Action: "host.import.rollback", Detail: detail})
		return err
	})
}
