package podmgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the buckets; encodingVersion prefixes every record.
const (
	schemaVersion   = 1
	encodingVersion = 1
)

var (
	bucketMeta       = []byte("meta")
	bucketPods       = []byte("pods")
	bucketProfiles   = []byte("profiles")
	bucketHosts      = []byte("hosts")        // mac -> host
	bucketHostsByPod = []byte("hosts-by-pod") // pod \x00 mac -> nil
	bucketMatch      = []byte("pod-by-match") // canonical rule -> pod
	bucketTokens     = []byte("tokens")
	bucketLeases     = []byte("leases")             // pod \x00 ip -> lease
	bucketAudit      = []byte("audit-events")       // seq -> event
	bucketHostEvents = []byte("host-events")        // mac \x00 seq -> event
	bucketHostSeq    = []byte("host-events-by-seq") // seq -> mac (host events in order)
	bucketHostCount  = []byte("host-event-counts")  // mac -> number of its events (uint64)
	bucketPodEvents  = []byte("host-events-by-pod") // pod \x00 time seq -> mac (podevents.go)
	bucketInventory  = []byte("inventory")          // mac -> what the host's agent found
	bucketBMCs       = []byte("bmcs")               // mac -> BMC (sealed password)
	bucketPodBMCs    = []byte("pod-bmcs")           // pod -> PodBMC (sealed password)
	allBuckets       = [][]byte{bucketMeta, bucketPods, bucketProfiles, bucketHosts, bucketHostsByPod, bucketMatch, bucketTokens, bucketLeases, bucketAudit, bucketHostEvents, bucketHostSeq, bucketHostCount, bucketPodEvents, bucketInventory, bucketBMCs, bucketPodBMCs}
	keySchema        = []byte("schema")
)

// BoltStore is the Store in one bbolt file.
type BoltStore struct {
	db *bolt.DB
	// perHost is how many events one host keeps (the ring of events.go).
	perHost uint64
	feed    boltFeed
}

// OpenBolt opens (or creates) the store at path. It fails at once, naming the problem,
// when another process holds the file or the file is not a podboot store; it never
// rewrites a file it cannot read.
func OpenBolt(path string) (*BoltStore, error) {
	fi, statErr := os.Stat(path)
	isNew := errors.Is(statErr, os.ErrNotExist) || (statErr == nil && fi.Size() == 0)
	if statErr != nil && !errors.Is(statErr, os.ErrNotExist) {
		return nil, fmt.Errorf("open store %s: %w", path, statErr)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: false})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("open store %s: %w (another podboot serve is using this data dir)", path, ErrStoreLocked)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("open store %s: cannot read or write it: %w", path, err)
		case !isNew:
			// bbolt refuses files it cannot map as a database (bad magic, checksum,
			// version, size); it wrote nothing to them.
			return nil, fmt.Errorf("open store %s: %w: %v; the file was left untouched: restore it from a backup or move it away", path, ErrStoreCorrupt, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &BoltStore{db: db, perHost: DefaultEventLimits().PerHost}
	if err := s.initSchema(isNew); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

func (s *BoltStore) initSchema(isNew bool) error {
	if !isNew {
		// An existing file must already be a podboot store: check before writing anything.
		err := s.db.View(func(tx *bolt.Tx) error {
			mb := tx.Bucket(bucketMeta)
			if mb == nil {
				return fmt.Errorf("%w: no podboot schema in it; the file was left untouched", ErrStoreCorrupt)
			}
			v := mb.Get(keySchema)
			if len(v) != 1 {
				return fmt.Errorf("%w: schema record is damaged; the file was left untouched", ErrStoreCorrupt)
			}
			if v[0] > schemaVersion {
				return fmt.Errorf("store schema %d is newer than this podboot understands (%d): upgrade podboot", v[0], schemaVersion)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		if err := checkHostEventIndex(tx); err != nil {
			return err
		}
		if err := checkPodEventIndex(tx); err != nil {
			return err
		}
		if tx.Bucket(bucketMeta).Get(keySchema) == nil {
			return tx.Bucket(bucketMeta).Put(keySchema, []byte{schemaVersion})
		}
		return nil
	})
}

// Close releases the file and its lock.
func (s *BoltStore) Close() error { return s.db.Close() }

// Path is the database file.
func (s *BoltStore) Path() string { return s.db.Path() }

// Size is the database file size in bytes.
func (s *BoltStore) Size() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n, err
}

// View implements Store.
func (s *BoltStore) View(ctx context.Context, fn func(ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx: tx, perHost: s.perHost}) })
}

// Update implements Store.
func (s *BoltStore) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var c *boltCommit
	err := s.db.Update(func(tx *bolt.Tx) error { return s.write(tx, &c, fn) })
	if err != nil {
		s.feed.settle(c, false) // a failed commit rolled back
	}
	return err
}

// Batch implements Store.
func (s *BoltStore) Batch(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var c *boltCommit
	err := s.db.Batch(func(tx *bolt.Tx) error { return s.write(tx, &c, fn) })
	if err != nil {
		s.feed.settle(c, false) // a failed commit rolled back
	}
	return err
}

type boltTx struct {
	tx      *bolt.Tx
	perHost uint64
	log     *changeLog // the change feed's (boltfeed.go); nil when read-only
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{encodingVersion}, b...), nil
}

func decode(b []byte, v any) error {
	if len(b) == 0 || b[0] != encodingVersion {
		return fmt.Errorf("%w: record with unknown encoding", ErrStoreCorrupt)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %v", ErrStoreCorrupt, err)
	}
	return nil
}

func getOne[T any](tx *bolt.Tx, bucket []byte, key string) (T, bool, error) {
	var v T
	b := tx.Bucket(bucket).Get([]byte(key))
	if b == nil {
		return v, false, nil
	}
	if err := decode(b, &v); err != nil {
		return v, false, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return v, true, nil
}

func getAll[T any](tx *bolt.Tx, bucket []byte) ([]T, error) {
	var out []T
	err := eachOf(tx, bucket, func(v T) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// eachOf decodes every record of bucket in key order and calls fn with it.
func eachOf[T any](tx *bolt.Tx, bucket []byte, fn func(T) error) error {
	return tx.Bucket(bucket).ForEach(func(k, b []byte) error {
		var v T
		if err := decode(b, &v); err != nil {
			return fmt.Errorf("read %s/%s: %w", bucket, k, err)
		}
		return fn(v)
	})
}

func put(tx *bolt.Tx, bucket []byte, key []byte, v any) error {
	b, err := encode(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return tx.Bucket(bucket).Put(key, b)
}

func (t boltTx) Pod(name string) (Pod, bool, error) { return getOne[Pod](t.tx, bucketPods, name) }
func (t boltTx) Pods() ([]Pod, error)               { return getAll[Pod](t.tx, bucketPods) }
func (t boltTx) Profile(name string) (Profile, bool, error) {
	return getOne[Profile](t.tx, bucketProfiles, name)
}
func (t boltTx) Profiles() ([]Profile, error) { return getAll[Profile](t.tx, bucketProfiles) }
func (t boltTx) Host(mac string) (Host, bool, error) {
	var h Host
	b := t.tx.Bucket(bucketHosts).Get([]byte(mac))
	if b == nil {
		return h, false, nil
	}
	if err := decodeHost(b, &h); err != nil {
		return h, false, fmt.Errorf("read host %s: %w", mac, err)
	}
	return h, true, nil
}
func (t boltTx) Tokens() ([]Token, error) { return getAll[Token](t.tx, bucketTokens) }
func (t boltTx) Leases() ([]Lease, error) { return getAll[Lease](t.tx, bucketLeases) }

func (t boltTx) EachHost(fn func(Host) error) error {
	return t.tx.Bucket(bucketHosts).ForEach(func(k, b []byte) error {
		var h Host
		if err := decodeHost(b, &h); err != nil {
			return fmt.Errorf("read host %s: %w", k, err)
		}
		return fn(h)
	})
}

func podHostKey(pod, mac string) []byte { return []byte(pod + "\x00" + mac) }

func (t boltTx) HostsOfPod(pod string) ([]string, error) {
	var macs []string
	prefix := []byte(pod + "\x00")
	c := t.tx.Bucket(bucketHostsByPod).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		macs = append(macs, string(k[len(prefix):]))
	}
	return macs, nil
}

func (t boltTx) PutPod(p Pod) error {
	pc, err := validatePod(&p)
	if err != nil {
		return err
	}
	mb := t.tx.Bucket(bucketMatch)
	for _, k := range pc.rules {
		if owner := mb.Get([]byte(k.String())); owner != nil && string(owner) != p.Name {
			return fmt.Errorf("%w: pod %s: match rule {%s} already belongs to pod %s", ErrConflict, p.Name, k, owner)
		}
	}
	if err := t.dropMatchKeys(p.Name); err != nil {
		return err
	}
	for _, k := range pc.rules {
		if err := mb.Put([]byte(k.String()), []byte(p.Name)); err != nil {
			return err
		}
	}
	t.log.add(Change{Kind: ChangePod, Key: p.Name, Pod: pc.Pod})
	return put(t.tx, bucketPods, []byte(p.Name), pc.Pod)
}

func (t boltTx) dropMatchKeys(pod string) error {
	old, ok, err := t.Pod(pod)
	if err != nil || !ok {
		return err
	}
	for _, r := range old.Match {
		if k, err := parseRule(r); err == nil {
			if err := t.tx.Bucket(bucketMatch).Delete([]byte(k.String())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t boltTx) DeletePod(name string) error {
	if err := t.dropMatchKeys(name); err != nil {
		return err
	}
	macs, err := t.HostsOfPod(name)
	if err != nil {
		return err
	}
	for _, mac := range macs {
		if err := t.DeleteHost(mac); err != nil {
			return err
		}
	}
	lb := t.tx.Bucket(bucketLeases)
	prefix := []byte(name + "\x00")
	c := lb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	if err := t.tx.Bucket(bucketPodBMCs).Delete([]byte(name)); err != nil {
		return err
	}
	t.log.add(Change{Kind: ChangePod, Key: name, Deleted: true})
	return t.tx.Bucket(bucketPods).Delete([]byte(name))
}

func (t boltTx) PutProfile(p Profile) error {
	t.log.add(Change{Kind: ChangeProfile, Key: p.Name, Profile: p})
	return put(t.tx, bucketProfiles, []byte(p.Name), p)
}

func (t boltTx) DeleteProfile(name string) error {
	t.log.add(Change{Kind: ChangeProfile, Key: name, Deleted: true})
	return t.tx.Bucket(bucketProfiles).Delete([]byte(name))
}

func (t boltTx) PutHost(h Host) error {
	old, ok, err := t.Host(h.MAC)
	if err != nil {
		return err
	}
	if ok && old.Pod != h.Pod {
		if err := t.tx.Bucket(bucketHostsByPod).Delete(podHostKey(old.Pod, h.MAC)); err != nil {
			return err
		}
	}
	if err := t.tx.Bucket(bucketHostsByPod).Put(podHostKey(h.Pod, h.MAC), nil); err != nil {
		return err
	}
	t.log.add(Change{Kind: ChangeHost, Key: h.MAC, Host: h})
	return t.tx.Bucket(bucketHosts).Put([]byte(h.MAC), encodeHost(h))
}

func (t boltTx) DeleteHost(mac string) error {
	old, ok, err := t.Host(mac)
	if err != nil || !ok {
		return err
	}
	if err := t.tx.Bucket(bucketHostsByPod).Delete(podHostKey(old.Pod, mac)); err != nil {
		return err
	}
	t.log.add(Change{Kind: ChangeHost, Key: mac, Deleted: true})
	if err := t.tx.Bucket(bucketInventory).Delete([]byte(mac)); err != nil {
		return err
	}
	if err := t.DeleteBMC(mac); err != nil {
		return err
	}
	return t.tx.Bucket(bucketHosts).Delete([]byte(mac))
}

func (t boltTx) Inventory(mac string) (Inventory, bool, error) {
	return getOne[Inventory](t.tx, bucketInventory, mac)
}

func (t boltTx) EachInventory(keep func([]byte) bool, fn func(Inventory) error) error {
	return t.tx.Bucket(bucketInventory).ForEach(func(k, b []byte) error {
		if keep != nil && !keep(b) {
			return nil
		}
		var inv Inventory
		if err := decode(b, &inv); err != nil {
			return fmt.Errorf("read inventory %s: %w", k, err)
		}
		return fn(inv)
	})
}

func (t boltTx) PutInventory(inv Inventory) error {
	return put(t.tx, bucketInventory, []byte(inv.MAC), inv)
}

func (t boltTx) PutToken(tok Token) error {
	t.log.add(Change{Kind: ChangeToken, Key: tok.ID, Token: tok})
	return put(t.tx, bucketTokens, []byte(tok.ID), tok)
}

func (t boltTx) DeleteToken(id string) error {
	t.log.add(Change{Kind: ChangeToken, Key: id, Deleted: true})
	return t.tx.Bucket(bucketTokens).Delete([]byte(id))
}

func leaseKey(pod, ip string) []byte { return []byte(pod + "\x00" + ip) }

func (t boltTx) PutLease(l Lease) error {
	return put(t.tx, bucketLeases, leaseKey(l.Pod, l.IP), l)
}

func (t boltTx) DeleteLease(pod, ip string) error {
	return t.tx.Bucket(bucketLeases).Delete(leaseKey(pod, ip))
}

func (t boltTx) BMC(mac string) (BMC, bool, error) { return getOne[BMC](t.tx, bucketBMCs, mac) }

func (t boltTx) EachBMC(fn func(BMC) error) error { return eachOf(t.tx, bucketBMCs, fn) }

func (t boltTx) PutBMC(b BMC) error { return put(t.tx, bucketBMCs, []byte(b.MAC), b) }

func (t boltTx) DeleteBMC(mac string) error { return t.tx.Bucket(bucketBMCs).Delete([]byte(mac)) }

func (t boltTx) PodBMC(pod string) (PodBMC, bool, error) {
	return getOne[PodBMC](t.tx, bucketPodBMCs, pod)
}

func (t boltTx) EachPodBMC(fn func(PodBMC) error) error { return eachOf(t.tx, bucketPodBMCs, fn) }

func (t boltTx) PutPodBMC(b PodBMC) error { return put(t.tx, bucketPodBMCs, []byte(b.Pod), b) }

func (t boltTx) DeletePodBMC(pod string) error {
	return t.tx.Bucket(bucketPodBMCs).Delete([]byte(pod))
}
