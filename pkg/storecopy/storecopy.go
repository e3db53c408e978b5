// Package storecopy copies podboot's records from one podmgr.Store to another (bbolt to
// etcd and back, `podboot store migrate`) and checks afterwards that the two hold the
// same content. It goes through the Store interface only, so each store builds its own
// indexes as it does for a normal write.
package storecopy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Content is everything a store holds, in the order the store returns it.
type Content struct {
	Profiles    []podmgr.Profile
	Pods        []podmgr.Pod
	Hosts       []podmgr.Host
	Tokens      []podmgr.Token
	Leases      []podmgr.Lease
	Events      []podmgr.Event
	Inventories []podmgr.Inventory
	BMCs        []podmgr.BMC
	PodBMCs     []podmgr.PodBMC
}

// Counts says how many records of each kind there are.
func (c *Content) Counts() string {
	return fmt.Sprintf("%d profiles, %d pods, %d hosts, %d inventories, %d tokens, %d leases, %d events, %d BMCs, %d pod BMC defaults",
		len(c.Profiles), len(c.Pods), len(c.Hosts), len(c.Inventories), len(c.Tokens), len(c.Leases), len(c.Events), len(c.BMCs), len(c.PodBMCs))
}

func (c *Content) empty() bool {
	return len(c.Profiles)+len(c.Pods)+len(c.Hosts)+len(c.Tokens)+len(c.Leases)+len(c.Events)+len(c.BMCs)+len(c.PodBMCs)+len(c.Inventories) == 0
}

// Read reads a store's whole content in one snapshot.
func Read(ctx context.Context, st podmgr.Store) (*Content, error) {
	var c Content
	err := st.View(ctx, func(tx podmgr.ReadTx) error {
		c = Content{}
		var err error
		if c.Profiles, err = tx.Profiles(); err != nil {
			return err
		}
		if c.Pods, err = tx.Pods(); err != nil {
			return err
		}
		if err := tx.EachHost(func(h podmgr.Host) error { c.Hosts = append(c.Hosts, h); return nil }); err != nil {
			return err
		}
		for _, h := range c.Hosts {
			inv, ok, err := tx.Inventory(h.MAC)
			if err != nil {
				return err
			}
			if ok {
				c.Inventories = append(c.Inventories, inv)
			}
		}
		if c.Tokens, err = tx.Tokens(); err != nil {
			return err
		}
		if c.Leases, err = tx.Leases(); err != nil {
			return err
		}
		// The stores order leases by their own keys (pod NUL ip, pod / ip), which differ
		// for pod names with '-' or '.': compare them in one order.
		slices.SortFunc(c.Leases, func(a, b podmgr.Lease) int {
			return cmp.Or(strings.Compare(a.Pod, b.Pod), strings.Compare(a.IP, b.IP))
		})
		if c.Events, err = tx.Events(podmgr.EventFilter{}); err != nil {
			return err
		}
		if err := tx.EachBMC(func(b podmgr.BMC) error { c.BMCs = append(c.BMCs, b); return nil }); err != nil {
			return err
		}
		return tx.EachPodBMC(func(b podmgr.PodBMC) error { c.PodBMCs = append(c.PodBMCs, b); return nil })
	})
	if err != nil {
		return nil, fmt.Errorf("read store: %w", err)
	}
	return &c, nil
}

// ErrNotEmpty says the target already holds records: a copy never merges.
var ErrNotEmpty = errors.New("target store is not empty")

// Copy writes from's content into the empty store to, at most chunk records per write
// transaction (etcd takes about 40 hosts per transaction; bbolt any number), then reads
// both again and fails unless they hold the same content. An interrupted copy leaves a
// partial target: empty it (or use a new prefix or file) and run the copy again.
func Copy(ctx context.Context, from, to podmgr.Store, chunk int) (*Content, error) {
	if chunk <= 0 {
		chunk = 25
	}
	dst, err := Read(ctx, to)
	if err != nil {
		return nil, err
	}
	if !dst.empty() {
		return nil, fmt.Errorf("%w: it holds %s", ErrNotEmpty, dst.Counts())
	}
	src, err := Read(ctx, from)
	if err != nil {
		return nil, err
	}
	steps := []struct {
		kind string
		n    int
		put  func(tx podmgr.Tx, i int) error
	}{
		{"profile", len(src.Profiles), func(tx podmgr.Tx, i int) error { return tx.PutProfile(src.Profiles[i]) }},
		{"pod", len(src.Pods), func(tx podmgr.Tx, i int) error { return tx.PutPod(src.Pods[i]) }},
		{"host", len(src.Hosts), func(tx podmgr.Tx, i int) error { return tx.PutHost(src.Hosts[i]) }},
		{"inventory", len(src.Inventories), func(tx podmgr.Tx, i int) error { return tx.PutInventory(src.Inventories[i]) }},
		{"token", len(src.Tokens), func(tx podmgr.Tx, i int) error { return tx.PutToken(src.Tokens[i]) }},
		{"lease", len(src.Leases), func(tx podmgr.Tx, i int) error { return tx.PutLease(src.Leases[i]) }},
		{"event", len(src.Events), func(tx podmgr.Tx, i int) error { return putEvent(tx, src.Events[i]) }},
		{"bmc", len(src.BMCs), func(tx podmgr.Tx, i int) error { return tx.PutBMC(src.BMCs[i]) }},
		{"pod bmc defaults", len(src.PodBMCs), func(tx podmgr.Tx, i int) error { return tx.PutPodBMC(src.PodBMCs[i]) }},
	}
	for _, s := range steps {
		for lo := 0; lo < s.n; lo += chunk {
			hi := min(lo+chunk, s.n)
			err := to.Update(ctx, func(tx podmgr.Tx) error {
				for i := lo; i < hi; i++ {
					if err := s.put(tx, i); err != nil {
						return fmt.Errorf("%s %d of %d: %w", s.kind, i+1, s.n, err)
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("copy: %w (the target now holds part of the data: empty it before copying again)", err)
			}
		}
	}
	if err := Verify(ctx, src, to); err != nil {
		return nil, err
	}
	return src, nil
}

// putEvent appends e; the target, empty at the start, numbers events 1, 2, … like the
// source did, and a gap in the source's numbers is an error rather than a renumbering.
// The event indexes (by seq, per-host counts, by pod and time) are derived: the target
// builds its own as AppendEvent writes each event; none is copied.
func putEvent(tx podmgr.Tx, e podmgr.Event) error {
	seq, err := tx.AppendEvent(e)
	if err != nil {
		return err
	}
	if seq != e.Seq {
		return fmt.Errorf("event %d would become event %d in the target: the source's event numbers have a gap", e.Seq, seq)
	}
	return nil
}

// Verify reads st again and fails, naming the first difference, unless it holds exactly
// want.
func Verify(ctx context.Context, want *Content, st podmgr.Store) error {
	got, err := Read(ctx, st)
	if err != nil {
		return err
	}
	if got.Counts() != want.Counts() {
		return fmt.Errorf("verify: the target holds %s, the source %s", got.Counts(), want.Counts())
	}
	w, g := reflect.ValueOf(*want), reflect.ValueOf(*got)
	for f := range w.NumField() {
		for i := range w.Field(f).Len() {
			if a, b := w.Field(f).Index(i).Interface(), g.Field(f).Index(i).Interface(); !reflect.DeepEqual(a, b) {
				return fmt.Errorf("verify: %s %d differs: source %+v, target %+v", w.Type().Field(f).Name, i+1, a, b)
			}
		}
	}
	return nil
}
