package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

type podPage struct {
	Viewer string
	// HasStatus says the fleet view is there to link to (the status page).
	HasStatus bool
	Pod       podmgr.Pod
	Counts    counts
	Query     string
	State     podmgr.HostState
	Hosts     []podmgr.Host
	Pager     pager
	Failures  []podmgr.Host
}

// maxFailures is how many failed hosts the pod page lists above its hosts.
const maxFailures = 20

// pod shows one pod: its relays and subnets, its hosts by state, its failed hosts with
// their reasons, and a page of its hosts filtered by ?state and ?q (a part of the MAC,
// hostname or an address).
func (u *UI) pod(w http.ResponseWriter, r *http.Request) {
	reg := u.mgr.Registry()
	name := r.PathValue("name")
	pc, ok := reg.Pod(name)
	if !ok {
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "Pod not found", Message: "No pod is named " + name + ".", Viewer: viewerOf(r.Context())})
		return
	}
	q := r.URL.Query()
	query := strings.TrimSpace(q.Get("q"))
	state := podmgr.HostState(q.Get("state"))
	page := pageNumber(q)
	hosts := reg.HostsPage(name, hostFilter(strings.ToLower(query), state), (page-1)*hostsPerPage, hostsPerPage)
	if len(hosts.Hosts) == 0 && hosts.Total > 0 { // past the last page: show the last
		page = (hosts.Total + hostsPerPage - 1) / hostsPerPage
		hosts = reg.HostsPage(name, hostFilter(strings.ToLower(query), state), (page-1)*hostsPerPage, hostsPerPage)
	}
	p := podPage{Viewer: viewerOf(r.Context()), Pod: pc.Pod, Counts: countsOf(hosts.States),
		Query: query, State: state, Hosts: hosts.Hosts, Pager: newPager(page, hostsPerPage, hosts.Total, q)}
	switch {
	case state == podmgr.StateFailed && query == "":
		p.Failures = hosts.Hosts[:min(len(hosts.Hosts), maxFailures)]
	case p.Counts.Failed > 0:
		p.Failures = reg.HostsPage(name, func(h *podmgr.Host) bool { return h.State == podmgr.StateFailed }, 0, maxFailures).Hosts
	}
	p.HasStatus = u.fleet != nil
	u.render(w, http.StatusOK, "pod", p)
}

type statusPage struct {
	Viewer string
	Status fleet.PodStatus
}

// podStatus shows the fleet view's status of a pod (`podboot pod status POD`): the last
// day's attempts, stage latencies, failures by stage and reason, the relays heard. It
// is a page of its own because it reads the host events of the last day, up to
// events.max of them, where the pod page reads only the registry.
func (u *UI) podStatus(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if u.fleet == nil {
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "No fleet view", Message: "This server has no fleet view.", Viewer: viewerOf(r.Context())})
		return
	}
	st, err := u.fleet.Status(r.Context(), name)
	switch {
	case errors.Is(err, podmgr.ErrNotFound):
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "Pod not found", Message: "No pod is named " + name + ".", Viewer: viewerOf(r.Context())})
		return
	case err != nil || len(st) != 1:
		u.log.Error("web pod status", "pod", name, "err", err)
		u.render(w, http.StatusServiceUnavailable, "error", errorPage{Title: "Status unavailable", Message: "The pod's status could not be read; the server log has the details.", Viewer: viewerOf(r.Context())})
		return
	}
	u.render(w, http.StatusOK, "status", statusPage{Viewer: viewerOf(r.Context()), Status: st[0]})
}

// hostFilter keeps hosts in state (when set) whose MAC, hostname or addresses contain
// lower (when set).
func hostFilter(lower string, state podmgr.HostState) func(*podmgr.Host) bool {
	if lower == "" && state == "" {
		return nil
	}
	return func(h *podmgr.Host) bool {
		if state != "" && h.State != state {
			return false
		}
		if lower == "" {
			return true
		}
		return strings.Contains(h.MAC, lower) || strings.Contains(strings.ToLower(h.Hostname), lower) ||
			strings.Contains(h.ManagementIP, lower) || strings.Contains(h.ProvisioningIP, lower)
	}
}
