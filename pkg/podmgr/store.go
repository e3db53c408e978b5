package podmgr

import (
	"context"
	"errors"
	"time"
)

// Store keeps pods, profiles, hosts, tokens, leases and events durably: bbolt (one file)
// or etcd (pkg/etcdstore, shared by replicas). Callers get copies: nothing returned
// aliases the store's memory.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(ReadTx) error) error
	// Update runs fn in a read-write transaction; fn's writes commit together or not at all.
	Update(ctx context.Context, fn func(Tx) error) error
	// Batch is Update for many small concurrent writers (leases, events): writes from
	// several goroutines may share one commit. fn may run more than once.
	Batch(ctx context.Context, fn func(Tx) error) error
	// Follow loads a snapshot through h.Load, then calls h.Apply with every later
	// commit's changes, in commit order, until the store is closed (feed.go). ctx bounds
	// the first load only.
	Follow(ctx context.Context, h FeedHandler) error
	Close() error
}

// ReadTx reads a consistent snapshot.
type ReadTx interface {
	Pod(name string) (Pod, bool, error)
	Pods() ([]Pod, error)
	Profile(name string) (Profile, bool, error)
	Profiles() ([]Profile, error)
	Host(mac string) (Host, bool, error)
	// EachHost calls fn for every host, in MAC order.
	EachHost(fn func(Host) error) error
	// HostsOfPod returns the MACs of a pod's hosts, through the pod index.
	HostsOfPod(pod string) ([]string, error)
	Tokens() ([]Token, error)
	Leases() ([]Lease, error)
	// Events returns events matching f, oldest first: from After on, at most Limit.
	Events(f EventFilter) ([]Event, error)
	// Inventory returns what a host's stage1 agent last reported about its hardware.
	Inventory(mac string) (Inventory, bool, error)
	// EachInventory calls fn for every stored inventory, in MAC order. keep, when not
	// nil, sees each record's stored bytes first: a record it rejects is not decoded
	// (a search's cheap first pass).
	EachInventory(keep func(raw []byte) bool, fn func(Inventory) error) error
	// BMC returns the BMC record of a host; EachBMC calls fn for every one, in MAC order.
	BMC(mac string) (BMC, bool, error)
	EachBMC(fn func(BMC) error) error
	// PodBMC returns a pod's BMC defaults; EachPodBMC calls fn for every one, in name order.
	PodBMC(pod string) (PodBMC, bool, error)
	EachPodBMC(fn func(PodBMC) error) error
}

// Tx reads and writes.
type Tx interface {
	ReadTx
	PutPod(p Pod) error
	DeletePod(name string) error
	PutProfile(p Profile) error
	DeleteProfile(name string) error
	PutHost(h Host) error
	DeleteHost(mac string) error
	PutToken(t Token) error
	DeleteToken(id string) error
	PutLease(l Lease) error
	DeleteLease(pod, ip string) error
	PutBMC(b BMC) error
	DeleteBMC(mac string) error
	// PutPodBMC stores a pod's BMC defaults; DeletePodBMC (or DeletePod) deletes them.
	PutPodBMC(b PodBMC) error
	DeletePodBMC(pod string) error
	// AppendEvent stores e with the next sequence number and returns it.
	AppendEvent(e Event) (uint64, error)
	// OnCommit calls fn with the commit's revision once the writes are committed (not
	// at all when they are not).
	OnCommit(fn func(rev uint64))
	// PutInventory stores a host's inventory (keyed by MAC, a record of its own so the
	// host record read on every DHCP packet stays compact); DeleteHost deletes it.
	PutInventory(inv Inventory) error
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	Kind  EventKind
	Pod   string
	MAC   string
	After uint64 // only events with Seq > After
	Since time.Time
	Limit int // 0: no limit; otherwise at most Limit events, the oldest after After
}

// ErrStoreCorrupt says the database file exists but cannot be read as a podboot store.
var ErrStoreCorrupt = errors.New("store is corrupt or not a podboot database")

// ErrStoreUnavailable says the store cannot be reached or cannot commit now (an etcd
// cluster without quorum); the API answers 503. For a failed commit the outcome is
// unknown: the change may have been applied.
var ErrStoreUnavailable = errors.New("store unavailable")

// ErrStoreLocked says another process holds the database.
var ErrStoreLocked = errors.New("store is locked by another process")
