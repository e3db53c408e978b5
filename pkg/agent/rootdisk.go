package agent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
)

// errNoRootDisk is a failed disk choice: the reason lists every disk seen.
var errNoRootDisk = errors.New("no disk matches the root device hints")

// chooseRootDisk picks the install disk by hints: every hint given must match, a
// removable disk never does, and of the disks that match the smallest wins (ties by
// name). No match is an error naming the hints and every disk, never a guess.
func chooseRootDisk(disks []agentproto.Disk, h agentproto.RootDeviceHints) (agentproto.Disk, error) {
	var match []agentproto.Disk
	for _, d := range disks {
		if hintsMatch(d, h) {
			match = append(match, d)
		}
	}
	if len(match) == 0 {
		return agentproto.Disk{}, fmt.Errorf("%w %s; disks: %s", errNoRootDisk, describeHints(h), describeDisks(disks))
	}
	slices.SortFunc(match, func(a, b agentproto.Disk) int {
		if a.SizeBytes != b.SizeBytes {
			if a.SizeBytes < b.SizeBytes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return match[0], nil
}

func hintsMatch(d agentproto.Disk, h agentproto.RootDeviceHints) bool {
	const mb = 1000 * 1000
	switch {
	case d.Removable || d.Bus == "usb":
		return false
	case h.Serial != "" && d.Serial != h.Serial:
		return false
	case h.WWN != "" && !strings.EqualFold(d.WWN, h.WWN):
		return false
	case h.Model != "" && !strings.Contains(strings.ToLower(d.Model), strings.ToLower(h.Model)):
		return false
	case h.MinSizeMB > 0 && d.SizeBytes < h.MinSizeMB*mb:
		return false
	case h.MaxSizeMB > 0 && d.SizeBytes > h.MaxSizeMB*mb:
		return false
	}
	return true
}

func describeHints(h agentproto.RootDeviceHints) string {
	var f []string
	for k, v := range map[string]string{"serial": h.Serial, "wwn": h.WWN, "model": h.Model} {
		if v != "" {
			f = append(f, fmt.Sprintf("%s=%q", k, v))
		}
	}
	slices.Sort(f)
	if h.MinSizeMB > 0 {
		f = append(f, fmt.Sprintf("size>=%dMB", h.MinSizeMB))
	}
	if h.MaxSizeMB > 0 {
		f = append(f, fmt.Sprintf("size<=%dMB", h.MaxSizeMB))
	}
	return "{" + strings.Join(append(f, "not removable"), " ") + "}"
}

func describeDisks(disks []agentproto.Disk) string {
	if len(disks) == 0 {
		return "none"
	}
	var out []string
	for _, d := range disks {
		s := fmt.Sprintf("%s %dMB bus=%s model=%q serial=%q", d.Name, d.SizeBytes/1000/1000, d.Bus, d.Model, d.Serial)
		if d.WWN != "" {
			s += " wwn=" + d.WWN
		}
		if d.Removable {
			s += " removable"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}
