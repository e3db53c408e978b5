package etcdstore

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Two invariants would need a scan of every host to check inside a transaction; these
// index reads make them hold when two replicas write at the same moment, as the
// match-rule and reservation indexes do for theirs:
//
//   - a profile that a host names as its override is not deleted: PutHost keeps
//     P hosts-by-profile/PROFILE/MAC, and DeleteProfile reads that range (a range guard,
//     so a host that takes the profile meanwhile fails the commit);
//   - a pod change does not strand a host outside the pod's subnets: PutPod reads the
//     pod's reservations (P reservations/POD/IP, guarded) and checks each against the new
//     pod. A new host is checked against the stored pod by the Manager (checkNewHosts).
//
// An index entry whose host no longer names the profile (left by a writer that died, or
// by the build below racing a change) is harmless: DeleteProfile reads the host, drops
// the entry and goes on.
const collHostsByProfile = "hosts-by-profile"

// indexProfile keeps the profile index of a host being written.
func (x *recordTx) indexProfile(old podmgr.Host, had bool, h podmgr.Host) {
	s := x.t.s
	if had && old.Profile != "" && old.Profile != h.Profile {
		x.t.del(s.key(collHostsByProfile, old.Profile, h.MAC), "")
	}
	if h.Profile != "" && (!had || old.Profile != h.Profile) {
		x.t.put(s.key(collHostsByProfile, h.Profile, h.MAC), nil)
	}
}

// unindexProfile drops a deleted host's profile index entry.
func (x *recordTx) unindexProfile(old podmgr.Host) {
	if old.Profile != "" {
		x.t.del(x.t.s.key(collHostsByProfile, old.Profile, old.MAC), "")
	}
}

// profileUnused refuses to delete a profile a host overrides to.
func (x *recordTx) profileUnused(name string) error {
	dir := x.t.s.dir(collHostsByProfile, name)
	var macs []string
	if err := x.t.scan(dir, prefixEnd(dir), func(k string, _ []byte) error {
		macs = append(macs, strings.TrimPrefix(k, dir))
		return nil
	}); err != nil {
		return err
	}
	for _, mac := range macs {
		h, ok, err := x.Host(mac)
		if err != nil {
			return err
		}
		if ok && h.Profile == name {
			return fmt.Errorf("%w: profile %s is the profile override of host %s", podmgr.ErrConflict, name, mac)
		}
		x.t.del(dir+mac, "") // stale
	}
	return nil
}

// reservationsFit refuses a change of pod p that would strand a host: an address one of
// its hosts reserved that the changed pod does not admit.
func (x *recordTx) reservationsFit(p podmgr.Pod) error {
	fit, err := podmgr.HostFits(p)
	if err != nil {
		return err
	}
	dir := x.t.s.dir(collReservations, p.Name)
	return x.t.scan(dir, prefixEnd(dir), func(k string, mac []byte) error {
		h := podmgr.Host{MAC: string(mac), Pod: p.Name, ProvisioningIP: strings.TrimPrefix(k, dir)}
		if err := fit(h); err != nil {
			return fmt.Errorf("%w: pod %s: the change would strand host %s: %v", podmgr.ErrConflict, p.Name, h.MAC, err)
		}
		return nil
	})
}

// profileIndexBuilt is the meta key that says the profile index covers every host (a
// prefix written before the index existed gets it built once, at Open).
const profileIndexBuilt = "hosts-by-profile-built"

// buildProfileIndex indexes the overrides of every stored host, once per prefix. Its
// plain puts may race a concurrent change of a host's override; an entry left over is
// dropped by the next DeleteProfile that meets it.
func (s *Store) buildProfileIndex(ctx context.Context) error {
	done := s.key(collMeta, profileIndexBuilt)
	get := func(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
		c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		return s.cli.Get(c, key, opts...)
	}
	resp, err := get(done)
	if err != nil {
		return fmt.Errorf("read %s: %w", profileIndexBuilt, err)
	}
	if len(resp.Kvs) == 1 {
		return nil
	}
	hosts := s.dir(collHosts)
	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		c, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		_, err := s.cli.Txn(c).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	for next := hosts; ; {
		page, err := get(next, clientv3.WithRange(prefixEnd(hosts)), clientv3.WithLimit(scanPage))
		if err != nil {
			return fmt.Errorf("read hosts: %w", err)
		}
		for _, kv := range page.Kvs {
			var h podmgr.Host
			if isMarker(string(kv.Key)) || podmgr.DecodeHost(kv.Value, &h) != nil || h.Profile == "" {
				continue
			}
			ops = append(ops, clientv3.OpPut(s.key(collHostsByProfile, h.Profile, h.MAC), ""))
			if len(ops) == s.cfg.MaxTxnOps {
				if err := flush(); err != nil {
					return fmt.Errorf("write profile index: %w", err)
				}
			}
		}
		if !page.More || len(page.Kvs) == 0 {
			break
		}
		next = string(page.Kvs[len(page.Kvs)-1].Key) + "\x00"
	}
	ops = append(ops, clientv3.OpPut(done, "1"))
	if err := flush(); err != nil {
		return fmt.Errorf("write profile index: %w", err)
	}
	return nil
}
