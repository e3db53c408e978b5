package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

type hostPage struct {
	Viewer   string
	Host     podmgr.Host
	Profile  string
	Timeline []step
	// After is the last event's sequence: the live stream continues from it.
	After uint64
	// Older is how many earlier events the page leaves out.
	Older int
	// Attempts are the host's provision attempts, newest first (with the fleet view).
	Attempts []fleet.Timeline
}

// step is one event of a host's timeline with the time since the event before it (how
// long the stage it ends took) and since the attempt began.
type step struct {
	podmgr.Event
	Took, SinceStart time.Duration
}

// host shows a host and its latest events as a timeline; ui.js appends what happens next.
func (u *UI) host(w http.ResponseWriter, r *http.Request) {
	mac, err := podmgr.NormalizeMAC(r.PathValue("mac"))
	if err != nil {
		u.render(w, http.StatusBadRequest, "error", errorPage{Title: "Not a MAC", Message: err.Error(), Viewer: viewerOf(r.Context())})
		return
	}
	h, ok := u.mgr.Registry().Host(mac)
	if !ok {
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "Host not found", Message: "No host has MAC " + mac + ".", Viewer: viewerOf(r.Context())})
		return
	}
	// A host keeps a bounded ring of events (events.perHost), so reading them all is bounded.
	evs, err := u.mgr.HostEvents(r.Context(), mac)
	if err != nil {
		u.log.Error("web host page: read events", "pod", h.Pod, "host", mac, "err", err)
		u.render(w, http.StatusServiceUnavailable, "error", errorPage{Title: "Events unavailable", Message: "The event store could not be read; the server log has the details.", Viewer: viewerOf(r.Context())})
		return
	}
	p := hostPage{Viewer: viewerOf(r.Context()), Host: h, Timeline: timeline(evs)}
	if prof, ok := u.mgr.Registry().EffectiveProfile(h); ok {
		p.Profile = prof.Name
	}
	if len(evs) > 0 {
		p.After = evs[len(evs)-1].Seq
	}
	if u.fleet != nil {
		p.Attempts = fleet.Timelines(evs)
		slices.Reverse(p.Attempts)
	}
	if n := len(p.Timeline); n > maxTimeline {
		p.Older = n - maxTimeline
		p.Timeline = p.Timeline[n-maxTimeline:]
	}
	u.render(w, http.StatusOK, "host", p)
}

// timeline gives each event its stage time. As in the fleet view (pkg/fleet), an
// attempt begins with a DHCP offer to a host that was not already provisioning; a
// registration, a discovery or a reprovision also restarts the clock.
func timeline(evs []podmgr.Event) []step {
	out := make([]step, len(evs))
	var start, prev time.Time
	var prevState podmgr.HostState
	for i, e := range evs {
		if start.IsZero() || startsAttempt(e, prevState) {
			start = e.Time
		} else {
			out[i].Took = e.Time.Sub(prev)
		}
		out[i].Event, out[i].SinceStart = e, e.Time.Sub(start)
		prev = e.Time
		if e.State != "" {
			prevState = e.State
		}
	}
	return out
}

func startsAttempt(e podmgr.Event, prev podmgr.HostState) bool {
	switch e.State {
	case podmgr.StateRegistered, podmgr.StateDiscovered:
		return true
	case podmgr.StateOffered:
		return !inProgress(prev)
	}
	return false
}

func inProgress(s podmgr.HostState) bool {
	switch s {
	case podmgr.StateOffered, podmgr.StateBooting, podmgr.StateVerified, podmgr.StateInstalling:
		return true
	}
	return false
}
