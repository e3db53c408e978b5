package podmgr

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StageDeadlines bound, in seconds, how long a host may take to reach each provisioning
// stage after reaching the one before (docs/fleet.md); a host that misses one becomes
// failed with the stage it was stuck in. 0 takes the default.
type StageDeadlines struct {
	// Bootloader: from the DHCP offer to the first boot file (or the script).
	Bootloader int `json:"bootloader,omitempty" yaml:"bootloader,omitempty"`
	Script     int `json:"script,omitempty" yaml:"script,omitempty"`
	// Kernel: from the script to kernel and initrd sent.
	Kernel int `json:"kernel,omitempty" yaml:"kernel,omitempty"`
	// Agent: from kernel and initrd sent to the agent's first call.
	Agent int `json:"agent,omitempty" yaml:"agent,omitempty"`
	// Stage2: from the agent's first call to the stage2 image verified.
	Stage2    int `json:"stage2,omitempty" yaml:"stage2,omitempty"`
	Kickstart int `json:"kickstart,omitempty" yaml:"kickstart,omitempty"`
	// Installed: from the kickstart served to the installed call-back.
	Installed int `json:"installed,omitempty" yaml:"installed,omitempty"`
}

// DefaultStageDeadlines are the deadlines of a profile that sets none.
func DefaultStageDeadlines() StageDeadlines {
	return StageDeadlines{Bootloader: 300, Script: 300, Kernel: 900, Agent: 600, Stage2: 3600, Kickstart: 600, Installed: 3600}
}

// maxStageDeadline bounds a deadline (a week).
const maxStageDeadline = 7 * 24 * 3600

// WithDefaults fills in zero fields.
func (d StageDeadlines) WithDefaults() StageDeadlines {
	def := DefaultStageDeadlines()
	for _, f := range []struct{ v, def *int }{
		{&d.Bootloader, &def.Bootloader}, {&d.Script, &def.Script}, {&d.Kernel, &def.Kernel}, {&d.Agent, &def.Agent},
		{&d.Stage2, &def.Stage2}, {&d.Kickstart, &def.Kickstart}, {&d.Installed, &def.Installed},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return d
}

// Min is the shortest deadline (of a defaulted StageDeadlines).
func (d StageDeadlines) Min() time.Duration {
	m := d.Bootloader
	for _, v := range []int{d.Script, d.Kernel, d.Agent, d.Stage2, d.Kickstart, d.Installed} {
		m = min(m, v)
	}
	return time.Duration(m) * time.Second
}

func (d StageDeadlines) validate(profile string) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"bootloader", d.Bootloader}, {"script", d.Script}, {"kernel", d.Kernel}, {"agent", d.Agent},
		{"stage2", d.Stage2}, {"kickstart", d.Kickstart}, {"installed", d.Installed}} {
		if f.v < 0 || f.v > maxStageDeadline {
			return invalidf("profile %s: deadlines.%s %d: give seconds, 1-%d (0 or absent: the default)", profile, f.name, f.v, maxStageDeadline)
		}
	}
	return nil
}

// IdleHosts returns copies of the hosts in the middle of a provision (offered, booting,
// verified, installing) whose last write is before before: the deadline check's
// candidates. It walks every host under the read lock, copying only those.
func (r *Registry) IdleHosts(before time.Time) []Host {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Host
	for _, h := range r.hosts {
		switch h.State {
		case StateOffered, StateBooting, StateVerified, StateInstalling:
			if h.UpdatedAt.Before(before) {
				out = append(out, *h)
			}
		}
	}
	return out
}

// errMoved says a host changed since the deadline check looked at it.
var errMoved = errors.New("host moved since it was checked")

// FailStuck moves a host that has not changed since seen (same state, same UpdatedAt) to
// failed with reason, consumes its provisioning token (netboot stays on, so its next
// boot retries) and records action with the reason, in one write transaction. It
// returns false, and writes nothing, when the host changed meanwhile: it progressed, or
// another replica failed it first. That conditional write is what lets every replica
// run the same deadline check.
func (m *Manager) FailStuck(ctx context.Context, seen Host, action, reason string) (bool, error) {
	_, err := m.hostUpdate(ctx, seen.MAC, func(h *Host) (Event, error) {
		if h.State != seen.State || !h.UpdatedAt.Equal(seen.UpdatedAt) {
			return Event{}, errMoved
		}
		h.State, h.StateReason = StateFailed, reason
		h.TokenHash, h.TokenExpires = "", time.Time{}
		return Event{Source: "podboot", Action: action, State: StateFailed, Detail: reason}, nil
	})
	switch {
	case errors.Is(err, errMoved), IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("fail stuck host %s: %w", seen.MAC, err)
	}
	return true, nil
}
