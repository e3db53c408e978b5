package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Relays is what the DHCP service heard from relays (nil Seen: no DHCP service here).
type Relays struct {
	Seen func(since time.Time) []dhcprelay.RelaySeen
	// Port is the UDP port podboot serves relayed DHCP on.
	Port uint16
}

func (r Relays) since(t time.Time) []dhcprelay.RelaySeen {
	if r.Seen == nil {
		return nil
	}
	return r.Seen(t)
}

// DefaultRelaySilence is how long a relay that was heard may stay quiet before pod
// status lists it as silent.
const DefaultRelaySilence = 15 * time.Minute

// Service answers the fleet questions from the manager's store and registry and the
// DHCP service's relay log.
type Service struct {
	mgr     *podmgr.Manager
	relays  Relays
	silence time.Duration
	now     func() time.Time
	// metrics, when set (SetMetrics), counts deadline failures.
	metrics *Metrics
}

// NewService returns the fleet view over mgr and relays.
func NewService(mgr *podmgr.Manager, relays Relays) *Service {
	return &Service{mgr: mgr, relays: relays, silence: DefaultRelaySilence, now: time.Now}
}

// HostTimeline returns a host's provision attempts, oldest first.
func (s *Service) HostTimeline(ctx context.Context, mac string) ([]Timeline, error) {
	evs, err := s.mgr.HostEvents(ctx, mac)
	if err != nil {
		return nil, err
	}
	return Timelines(evs), nil
}

// PodStatus is one pod's health.
type PodStatus struct {
	Pod          string                   `json:"pod"`
	Hosts        int                      `json:"hosts"`
	HostsByState map[podmgr.HostState]int `json:"hostsByState"`
	// Provisioned and Failed count attempts that ended in the last hour and day.
	ProvisionedHour int `json:"provisionedLastHour"`
	ProvisionedDay  int `json:"provisionedLastDay"`
	FailedHour      int `json:"failedLastHour"`
	FailedDay       int `json:"failedLastDay"`
	// InProgress counts attempts started in the last day and not ended.
	InProgress int `json:"inProgress"`
	// Failures are the last day's failures by stage and reason, most frequent first.
	Failures []Failure `json:"failures"`
	// Latency is per stage and total (first DHCP to installed) over the last day's
	// installed attempts.
	Latency []Latency `json:"latency"`
	// Relays are the relays whose last packet resolved to the pod, most recent first.
	Relays []RelayStatus `json:"relays"`
}

// RelayStatus is the last packet heard from one relay of a pod.
type RelayStatus struct {
	Source string    `json:"source"`
	Giaddr string    `json:"giaddr"`
	Last   time.Time `json:"last"`
	// Silent: not heard for the relay silence (15 minutes), or never.
	Silent  bool   `json:"silent"`
	Packets uint64 `json:"packets"`
	// NeverHeard: a relay source a match rule of the pod names, not heard in the last
	// day (or since this replica started).
	NeverHeard bool `json:"neverHeard,omitempty"`
}

// Window is how far back pod status looks.
const Window = 24 * time.Hour

// Status returns the status of the named pods (all when names is empty), in name order.
func (s *Service) Status(ctx context.Context, names ...string) ([]PodStatus, error) {
	reg := s.mgr.Registry()
	all := len(names) == 0
	if all {
		names = reg.PodNames()
	}
	now := s.now()
	out := make([]PodStatus, 0, len(names))
	idx := map[string]int{}
	for _, n := range names {
		if _, ok := reg.Pod(n); !ok {
			return nil, fmt.Errorf("%w: pod %s", podmgr.ErrNotFound, n)
		}
		st := PodStatus{Pod: n, HostsByState: reg.StateCounts(n), Hosts: reg.HostCount(n), Failures: []Failure{}, Relays: []RelayStatus{}}
		idx[n] = len(out)
		out = append(out, st)
	}
	byPod, err := s.dayTimelines(ctx, names, all, now.Add(-Window))
	if err != nil {
		return nil, err
	}
	for pod, ts := range byPod {
		if i, ok := idx[pod]; ok {
			summarise(&out[i], ts, now)
		}
	}
	for _, r := range s.relays.since(now.Add(-Window)) {
		i, ok := idx[r.Pod]
		if !ok || r.WrongPort {
			continue
		}
		out[i].Relays = append(out[i].Relays, RelayStatus{Source: r.Source, Giaddr: r.Giaddr, Last: r.Last,
			Silent: now.Sub(r.Last) > s.silence, Packets: r.Packets})
	}
	for i := range out {
		out[i].Relays = append(out[i].Relays, unheard(reg, out[i].Pod, out[i].Relays)...)
		if out[i].Latency == nil {
			out[i].Latency = latencies(nil)
		}
	}
	return out, nil
}

// dayTimelines returns the attempts since since by pod. Named pods read their own
// events through the store's pod index (a pod's day, not the fleet's); all pods read
// the day's host events once.
func (s *Service) dayTimelines(ctx context.Context, names []string, all bool, since time.Time) (map[string][]Timeline, error) {
	filters := []podmgr.EventFilter{{Kind: podmgr.KindHost, Since: since}}
	if !all {
		filters = filters[:0]
		for i, n := range names {
			if !slices.Contains(names[:i], n) {
				filters = append(filters, podmgr.EventFilter{Kind: podmgr.KindHost, Pod: n, Since: since})
			}
		}
	}
	byPod := map[string][]Timeline{}
	for _, f := range filters {
		evs, err := s.mgr.Events(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("pod status: read host events: %w", err)
		}
		for _, t := range timelinesByHost(evs) {
			byPod[t.Pod] = append(byPod[t.Pod], t)
		}
	}
	return byPod, nil
}

// timelinesByHost splits events (oldest first) into each host's attempts, in MAC order,
// feeding one builder per host without copying the events.
func timelinesByHost(evs []podmgr.Event) []Timeline {
	per := map[string]*builder{}
	for _, e := range evs {
		b, ok := per[e.MAC]
		if !ok {
			b = &builder{}
			per[e.MAC] = b
		}
		b.add(e)
	}
	macs := make([]string, 0, len(per))
	for m := range per {
		macs = append(macs, m)
	}
	slices.Sort(macs)
	var out []Timeline
	for _, m := range macs {
		out = append(out, per[m].out...)
	}
	return out
}

func summarise(st *PodStatus, ts []Timeline, now time.Time) {
	hour := now.Add(-time.Hour)
	for _, t := range ts {
		switch t.Outcome {
		case OutcomeInstalled:
			st.ProvisionedDay++
			if t.End.After(hour) {
				st.ProvisionedHour++
			}
		case OutcomeFailed:
			st.FailedDay++
			if t.End.After(hour) {
				st.FailedHour++
			}
		case OutcomeInProgress:
			st.InProgress++
		}
	}
	st.Failures = failures(ts)
	st.Latency = latencies(ts)
}

// unheard lists the relay sources the pod's rules name that are not among heard.
func unheard(reg *podmgr.Registry, pod string, heard []RelayStatus) []RelayStatus {
	pc, ok := reg.Pod(pod)
	if !ok {
		return nil
	}
	var out []RelayStatus
	for _, r := range pc.Pod.Match {
		if r.RelaySource == "" || slices.ContainsFunc(heard, func(h RelayStatus) bool { return sameAddr(h.Source, r.RelaySource) }) ||
			slices.ContainsFunc(out, func(h RelayStatus) bool { return h.Source == r.RelaySource }) {
			continue
		}
		out = append(out, RelayStatus{Source: r.RelaySource, Giaddr: r.Giaddr, Silent: true, NeverHeard: true})
	}
	return out
}
