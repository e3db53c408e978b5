package etcdstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Key layout under the prefix P (schema 1), mirroring the bbolt buckets:
//
//	P meta/schema                     "1"
//	P meta/event-seq                  last event sequence number (decimal)
//	P pods/NAME, P profiles/NAME      record
//	P hosts/MAC                       host record (podmgr's compact codec)
//	P hosts-by-pod/POD/MAC            "" (index)
//	P pod-by-match/RULE               pod name (index: one owner per canonical rule)
//	P reservations/POD/IP             MAC (index: one host per reserved address in a pod)
//	P tokens/ID                       record
//	P inventory/MAC                   a host's hardware inventory (deleted with the host)
//	P leases/POD/IP                   lease
//	P audit-events/SEQ                event (SEQ: 16 hex digits, so keys sort by number)
//	P host-events/MAC/SEQ             event
//	P host-events-by-seq/SEQ          MAC (index: host events in order, for paging and retention)
//	P host-events-by-pod/POD/TIMESEQ  MAC (index: a pod's host events by time, podevents.go)
//	P meta/event-index-seq            event counter the pod index is complete up to
//	P bmcs/MAC                        BMC record (sealed password)
//	P pod-bmcs/POD                    a pod's BMC defaults (sealed password; deleted with the pod)
//	P hosts-by-profile/PROFILE/MAC    "" (index: hosts overriding to a profile, invariants.go)
//
// Keys ending in '/' are deletion markers (txn.go), not records.
const (
	collMeta         = "meta"
	collPods         = "pods"
	collProfiles     = "profiles"
	collHosts        = "hosts"
	collHostsByPod   = "hosts-by-pod"
	collMatch        = "pod-by-match"
	collReservations = "reservations"
	collTokens       = "tokens"
	collInventory    = "inventory"
	collLeases       = "leases"
	collAudit        = "audit-events"
	collHostEvents   = "host-events"
	collHostSeq      = "host-events-by-seq"
	collBMCs         = "bmcs"
	collPodBMCs      = "pod-bmcs"
)

func (s *Store) key(coll string, parts ...string) string {
	return s.prefix + coll + "/" + strings.Join(parts, "/")
}

// dir is the prefix of a collection, or of one group inside it (a pod's hosts).
func (s *Store) dir(coll string, parts ...string) string {
	if len(parts) == 0 {
		return s.prefix + coll + "/"
	}
	return s.key(coll, parts...) + "/"
}

// collection names the collection a key belongs to.
func (s *Store) collection(key string) string {
	c, _, _ := strings.Cut(strings.TrimPrefix(key, s.prefix), "/")
	return c
}

func seqHex(seq uint64) string { return fmt.Sprintf("%016x", seq) }

func (s *Store) initSchema(ctx context.Context) error {
	return s.Update(ctx, func(tx podmgr.Tx) error {
		t := tx.(*recordTx).t
		k := s.key(collMeta, "schema")
		v, ok, err := t.get(k)
		switch {
		case err != nil:
			return err
		case !ok:
			t.put(k, []byte(schemaVersion))
			return nil
		case string(v) != schemaVersion:
			return fmt.Errorf("%w: schema %q under %s: this podboot reads schema %s (upgrade podboot, or check --etcd-prefix)", podmgr.ErrStoreCorrupt, v, s.prefix, schemaVersion)
		}
		return nil
	})
}

// recordTx is podmgr's Tx over a txn.
type recordTx struct{ t *txn }

func getRecord[T any](t *txn, key string) (T, bool, error) {
	var v T
	b, ok, err := t.get(key)
	if err != nil || !ok {
		return v, false, err
	}
	if err := podmgr.DecodeRecord(b, &v); err != nil {
		return v, false, fmt.Errorf("read %s: %w", strings.TrimPrefix(key, t.s.prefix), err)
	}
	return v, true, nil
}

func scanRecords[T any](t *txn, dir string) ([]T, error) {
	var out []T
	err := t.scan(dir, prefixEnd(dir), func(k string, b []byte) error {
		var v T
		if err := podmgr.DecodeRecord(b, &v); err != nil {
			return fmt.Errorf("read %s: %w", strings.TrimPrefix(k, t.s.prefix), err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func (x *recordTx) putRecord(key string, v any) error {
	b, err := podmgr.EncodeRecord(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", strings.TrimPrefix(key, x.t.s.prefix), err)
	}
	x.t.put(key, b)
	return nil
}

func (x *recordTx) Pod(name string) (podmgr.Pod, bool, error) {
	return getRecord[podmgr.Pod](x.t, x.t.s.key(collPods, name))
}

func (x *recordTx) Pods() ([]podmgr.Pod, error) {
	return scanRecords[podmgr.Pod](x.t, x.t.s.dir(collPods))
}

func (x *recordTx) Profile(name string) (podmgr.Profile, bool, error) {
	return getRecord[podmgr.Profile](x.t, x.t.s.key(collProfiles, name))
}

func (x *recordTx) Profiles() ([]podmgr.Profile, error) {
	return scanRecords[podmgr.Profile](x.t, x.t.s.dir(collProfiles))
}

func (x *recordTx) Host(mac string) (podmgr.Host, bool, error) {
	var h podmgr.Host
	b, ok, err := x.t.get(x.t.s.key(collHosts, mac))
	if err != nil || !ok {
		return h, false, err
	}
	if err := podmgr.DecodeHost(b, &h); err != nil {
		return h, false, fmt.Errorf("read host %s: %w", mac, err)
	}
	return h, true, nil
}

func (x *recordTx) EachHost(fn func(podmgr.Host) error) error {
	dir := x.t.s.dir(collHosts)
	return x.t.scan(dir, prefixEnd(dir), func(k string, b []byte) error {
		var h podmgr.Host
		if err := podmgr.DecodeHost(b, &h); err != nil {
			return fmt.Errorf("read host %s: %w", strings.TrimPrefix(k, dir), err)
		}
		return fn(h)
	})
}

func (x *recordTx) HostsOfPod(pod string) ([]string, error) {
	var macs []string
	dir := x.t.s.dir(collHostsByPod, pod)
	err := x.t.scan(dir, prefixEnd(dir), func(k string, _ []byte) error {
		macs = append(macs, strings.TrimPrefix(k, dir))
		return nil
	})
	return macs, err
}

func (x *recordTx) Tokens() ([]podmgr.Token, error) {
	return scanRecords[podmgr.Token](x.t, x.t.s.dir(collTokens))
}

func (x *recordTx) Leases() ([]podmgr.Lease, error) {
	return scanRecords[podmgr.Lease](x.t, x.t.s.dir(collLeases))
}

// PutPod stores a pod and its match-rule index; a rule another pod owns is a conflict.
func (x *recordTx) PutPod(p podmgr.Pod) error {
	p, keys, err := podmgr.PodMatchKeys(p)
	if err != nil {
		return err
	}
	for _, k := range keys {
		owner, ok, err := x.t.get(x.t.s.key(collMatch, k))
		if err != nil {
			return err
		}
		if ok && string(owner) != p.Name {
			return fmt.Errorf("%w: pod %s: match rule {%s} already belongs to pod %s", podmgr.ErrConflict, p.Name, k, owner)
		}
	}
	if _, had, err := x.Pod(p.Name); err != nil {
		return err
	} else if had {
		if err := x.reservationsFit(p); err != nil {
			return err
		}
	}
	if err := x.dropMatchKeys(p.Name); err != nil {
		return err
	}
	for _, k := range keys {
		x.t.put(x.t.s.key(collMatch, k), []byte(p.Name))
	}
	return x.putRecord(x.t.s.key(collPods, p.Name), p)
}

func (x *recordTx) dropMatchKeys(pod string) error {
	old, ok, err := x.Pod(pod)
	if err != nil || !ok {
		return err
	}
	_, keys, err := podmgr.PodMatchKeys(old)
	if err != nil {
		return nil // a stored pod that no longer validates has no keys we could name
	}
	for _, k := range keys {
		x.t.del(x.t.s.key(collMatch, k), "")
	}
	return nil
}

// DeletePod removes a pod with its hosts, leases and index keys.
func (x *recordTx) DeletePod(name string) error {
	if err := x.dropMatchKeys(name); err != nil {
		return err
	}
	macs, err := x.HostsOfPod(name)
	if err != nil {
		return err
	}
	for _, mac := range macs {
		if err := x.DeleteHost(mac); err != nil {
			return err
		}
	}
	dir := x.t.s.dir(collLeases, name)
	var leases []string
	if err := x.t.scan(dir, prefixEnd(dir), func(k string, _ []byte) error { leases = append(leases, k); return nil }); err != nil {
		return err
	}
	for _, k := range leases {
		x.t.del(k, dir)
	}
	x.t.del(x.t.s.key(collPodBMCs, name), x.t.s.dir(collPodBMCs))
	x.t.del(x.t.s.key(collPods, name), x.t.s.dir(collPods))
	return nil
}

func (x *recordTx) PutProfile(p podmgr.Profile) error {
	return x.putRecord(x.t.s.key(collProfiles, p.Name), p)
}

func (x *recordTx) DeleteProfile(name string) error {
	if err := x.profileUnused(name); err != nil {
		return err
	}
	x.t.del(x.t.s.key(collProfiles, name), x.t.s.dir(collProfiles))
	return nil
}

// PutHost stores a host with its pod index and its reservation; an address another
// host of the pod has reserved is a conflict.
func (x *recordTx) PutHost(h podmgr.Host) error {
	s := x.t.s
	old, had, err := x.Host(h.MAC)
	if err != nil {
		return err
	}
	if h.ProvisioningIP != "" {
		rk := s.key(collReservations, h.Pod, h.ProvisioningIP)
		owner, ok, err := x.t.get(rk)
		if err != nil {
			return err
		}
		if ok && string(owner) != h.MAC {
			return fmt.Errorf("%w: host %s: address %s in pod %s is already reserved for %s", podmgr.ErrConflict, h.MAC, h.ProvisioningIP, h.Pod, owner)
		}
	}
	if had {
		if old.Pod != h.Pod {
			x.t.del(s.key(collHostsByPod, old.Pod, h.MAC), s.dir(collHostsByPod, old.Pod))
		}
		if old.ProvisioningIP != "" && (old.Pod != h.Pod || old.ProvisioningIP != h.ProvisioningIP) {
			x.t.del(s.key(collReservations, old.Pod, old.ProvisioningIP), "")
		}
	}
	if h.ProvisioningIP != "" {
		x.t.put(s.key(collReservations, h.Pod, h.ProvisioningIP), []byte(h.MAC))
	}
	x.indexProfile(old, had, h)
	x.t.put(s.key(collHostsByPod, h.Pod, h.MAC), nil)
	x.t.put(s.key(collHosts, h.MAC), podmgr.EncodeHost(h))
	return nil
}

func (x *recordTx) DeleteHost(mac string) error {
	s := x.t.s
	old, ok, err := x.Host(mac)
	if err != nil || !ok {
		return err
	}
	x.t.del(s.key(collHostsByPod, old.Pod, mac), s.dir(collHostsByPod, old.Pod))
	if old.ProvisioningIP != "" {
		x.t.del(s.key(collReservations, old.Pod, old.ProvisioningIP), "")
	}
	x.unindexProfile(old)
	x.t.del(s.key(collInventory, mac), "")
	x.t.del(s.key(collBMCs, mac), s.dir(collBMCs))
	x.t.del(s.key(collHosts, mac), s.dir(collHosts))
	return nil
}

func (x *recordTx) Inventory(mac string) (podmgr.Inventory, bool, error) {
	return getRecord[podmgr.Inventory](x.t, x.t.s.key(collInventory, mac))
}

func (x *recordTx) EachInventory(keep func([]byte) bool, fn func(podmgr.Inventory) error) error {
	dir := x.t.s.dir(collInventory)
	return x.t.scan(dir, prefixEnd(dir), func(k string, b []byte) error {
		if keep != nil && !keep(b) {
			return nil
		}
		var inv podmgr.Inventory
		if err := podmgr.DecodeRecord(b, &inv); err != nil {
			return fmt.Errorf("read inventory %s: %w", strings.TrimPrefix(k, dir), err)
		}
		return fn(inv)
	})
}

func (x *recordTx) PutInventory(inv podmgr.Inventory) error {
	return x.putRecord(x.t.s.key(collInventory, inv.MAC), inv)
}

func (x *recordTx) PutToken(tok podmgr.Token) error {
	return x.putRecord(x.t.s.key(collTokens, tok.ID), tok)
}

func (x *recordTx) DeleteToken(id string) error {
	x.t.del(x.t.s.key(collTokens, id), x.t.s.dir(collTokens))
	return nil
}

func (x *recordTx) PutLease(l podmgr.Lease) error {
	return x.putRecord(x.t.s.key(collLeases, l.Pod, l.IP), l)
}

func (x *recordTx) DeleteLease(pod, ip string) error {
	x.t.del(x.t.s.key(collLeases, pod, ip), x.t.s.dir(collLeases, pod))
	return nil
}

// OnCommit implements podmgr.Tx.
func (x *recordTx) OnCommit(fn func(rev uint64)) { x.t.onCommit = append(x.t.onCommit, fn) }
func (x *recordTx) BMC(mac string) (podmgr.BMC, bool, error) {
	return getRecord[podmgr.BMC](x.t, x.t.s.key(collBMCs, mac))
}

func (x *recordTx) EachBMC(fn func(podmgr.BMC) error) error {
	return eachRecord(x.t, x.t.s.dir(collBMCs), fn)
}

// eachRecord calls fn for every record under dir, in key order.
func eachRecord[T any](t *txn, dir string, fn func(T) error) error {
	rs, err := scanRecords[T](t, dir)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (x *recordTx) PutBMC(b podmgr.BMC) error {
	return x.putRecord(x.t.s.key(collBMCs, b.MAC), b)
}

func (x *recordTx) DeleteBMC(mac string) error {
	x.t.del(x.t.s.key(collBMCs, mac), x.t.s.dir(collBMCs))
	return nil
}
