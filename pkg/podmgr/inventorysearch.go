package podmgr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
)

// InventoryCond is one `host list --where FIELD=VALUE` condition on the inventory the
// host's agent reported. Values compare case-insensitively and whole (no substrings):
//
//	serial   the DMI system serial or any disk's serial
//	wwn      any disk's WWN
//	model    any disk's model
//	vendor   the DMI system vendor;  product: the DMI product name
//	mac      any NIC's MAC (the inventory's, which may list more NICs than the host's)
type InventoryCond struct {
	Field, Value string
}

// inventoryFields are the fields a condition may name, in the order the docs list them.
func inventoryFields() []string {
	return []string{"serial", "wwn", "model", "vendor", "product", "mac"}
}

// ParseInventoryCond reads FIELD=VALUE.
func ParseInventoryCond(s string) (InventoryCond, error) {
	f, v, ok := strings.Cut(s, "=")
	f = strings.ToLower(strings.TrimSpace(f))
	if !ok || strings.TrimSpace(v) == "" {
		return InventoryCond{}, fmt.Errorf("%w: where %q: want FIELD=VALUE, FIELD one of %s", ErrInvalid, s, strings.Join(inventoryFields(), ", "))
	}
	known := false
	for _, k := range inventoryFields() {
		known = known || k == f
	}
	if !known {
		return InventoryCond{}, fmt.Errorf("%w: where %q: unknown field %q; use %s", ErrInvalid, s, f, strings.Join(inventoryFields(), ", "))
	}
	c := InventoryCond{Field: f, Value: strings.TrimSpace(v)}
	if f == "mac" {
		mac, err := NormalizeMAC(c.Value)
		if err != nil {
			return InventoryCond{}, err
		}
		c.Value = mac
	}
	return c, nil
}

func (c InventoryCond) match(inv agentproto.Inventory) bool {
	eq := func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), c.Value) }
	switch c.Field {
	case "vendor":
		return eq(inv.System.Vendor)
	case "product":
		return eq(inv.System.Product)
	case "mac":
		for _, n := range inv.NICs {
			if eq(n.MAC) {
				return true
			}
		}
		return false
	}
	if c.Field == "serial" && eq(inv.System.Serial) {
		return true
	}
	for _, d := range inv.Disks {
		if (c.Field == "serial" && eq(d.Serial)) || (c.Field == "wwn" && eq(d.WWN)) || (c.Field == "model" && eq(d.Model)) {
			return true
		}
	}
	return false
}

// mayMatch is the cheap first pass over a stored record: every value (that JSON does
// not escape) must occur in it, ignoring ASCII case.
func mayMatch(raw []byte, conds []InventoryCond) bool {
	for _, c := range conds {
		if !strings.ContainsFunc(c.Value, jsonEscaped) && !containsFold(raw, c.Value) {
			return false
		}
	}
	return true
}

// containsFold reports whether s holds sub, ignoring ASCII case, without allocating.
// Candidates are found with bytes.Index on sub's longest run without letters (the
// digits of a serial), which has no case; only short runs fall back to a byte scan.
func containsFold(s []byte, sub string) bool {
	if sub == "" {
		return true
	}
	run, off := caselessRun(sub)
	for i := 0; i < len(s); {
		var at int
		if len(run) >= 3 {
			j := bytes.Index(s[i:], []byte(run))
			if j < 0 {
				return false
			}
			at, i = i+j-off, i+j+1
		} else {
			j := bytes.IndexFunc(s[i:], func(r rune) bool { return r < 0x80 && lowerASCII(byte(r)) == lowerASCII(sub[0]) })
			if j < 0 {
				return false
			}
			at, i = i+j, i+j+1
		}
		if at >= 0 && at+len(sub) <= len(s) && bytes.EqualFold(s[at:at+len(sub)], []byte(sub)) {
			return true
		}
	}
	return false
}

// caselessRun is the longest run of sub without ASCII letters, and its offset.
func caselessRun(sub string) (string, int) {
	best, bestAt, start := "", 0, 0
	for i := 0; i <= len(sub); i++ {
		if i == len(sub) || lowerASCII(sub[i]) != upperASCII(sub[i]) {
			if i-start > len(best) {
				best, bestAt = sub[start:i], start
			}
			start = i + 1
		}
	}
	return best, bestAt
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func upperASCII(b byte) byte {
	if 'a' <= b && b <= 'z' {
		return b - ('a' - 'A')
	}
	return b
}

// matchInventory decodes an inventory and checks every condition.
func matchInventory(data []byte, conds []InventoryCond) bool {
	var inv agentproto.Inventory
	if json.Unmarshal(data, &inv) != nil {
		return false
	}
	for _, c := range conds {
		if !c.match(inv) {
			return false
		}
	}
	return true
}

func jsonEscaped(r rune) bool {
	return r < 0x20 || r > 0x7e || strings.ContainsRune(`"\<>&`, r)
}

// SearchInventories returns, in MAC order, the hosts whose inventory meets every
// condition; with pod, only that pod's hosts are read. It is a scan of the stored
// inventories (docs/agent.md gives its cost), in one read transaction.
func (m *Manager) SearchInventories(ctx context.Context, pod string, conds []InventoryCond) ([]string, error) {
	if len(conds) == 0 {
		return nil, fmt.Errorf("%w: no where condition", ErrInvalid)
	}
	var macs []string
	err := m.store.View(ctx, func(tx ReadTx) error {
		macs = macs[:0]
		if pod == "" {
			keep := func(raw []byte) bool { return mayMatch(raw, conds) }
			return tx.EachInventory(keep, func(inv Inventory) error {
				if matchInventory(inv.Data, conds) {
					macs = append(macs, inv.MAC)
				}
				return nil
			})
		}
		hosts, err := tx.HostsOfPod(pod)
		if err != nil {
			return err
		}
		for _, mac := range hosts {
			inv, ok, err := tx.Inventory(mac)
			if err != nil {
				return err
			}
			if ok && mayMatch(inv.Data, conds) && matchInventory(inv.Data, conds) {
				macs = append(macs, mac)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search inventories: %w", err)
	}
	return macs, nil
}
