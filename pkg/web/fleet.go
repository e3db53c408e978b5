package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/podboot/podboot/pkg/podmgr"
)

type fleetView struct {
	Viewer     string
	Query      string
	Pods       []podRow
	Pager      pager
	TotalPods  int
	TotalHosts int
}

type podRow struct {
	Name, Profile, ServerAddress string
	Relays                       []podmgr.MatchRule
	Counts                       counts
}

// fleet lists the pods whose name contains ?q, a page at a time; only the page's pods
// are counted.
func (u *UI) fleetPage(w http.ResponseWriter, r *http.Request) {
	reg := u.mgr.Registry()
	q := r.URL.Query()
	query := strings.TrimSpace(q.Get("q"))
	names := reg.PodNames()
	total := len(names)
	if query != "" {
		names = filterNames(names, strings.ToLower(query))
	}
	p := newPager(pageNumber(q), podsPerPage, len(names), q)
	names = names[p.offset(podsPerPage):min(len(names), p.offset(podsPerPage)+podsPerPage)]
	rows := make([]podRow, 0, len(names))
	for _, n := range names {
		pc, ok := reg.Pod(n)
		if !ok {
			continue // deleted since PodNames
		}
		rows = append(rows, podRow{Name: n, Profile: pc.Pod.Profile, ServerAddress: pc.Pod.ServerAddress,
			Relays: pc.Pod.Match, Counts: countsOf(reg.StateCounts(n))})
	}
	u.render(w, http.StatusOK, "fleet", fleetView{Viewer: viewerOf(r.Context()), Query: query, Pods: rows, Pager: p,
		TotalPods: total, TotalHosts: reg.HostCount("")})
}

func filterNames(names []string, lower string) []string {
	out := names[:0:0]
	for _, n := range names {
		if strings.Contains(strings.ToLower(n), lower) {
			out = append(out, n)
		}
	}
	return out
}

// find sends a MAC to its host's page and anything else to the pods whose name has it.
func (u *UI) find(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if mac, err := podmgr.NormalizeMAC(q); err == nil {
		if _, ok := u.mgr.Registry().Host(mac); ok {
			http.Redirect(w, r, "/ui/hosts/"+mac, http.StatusSeeOther)
			return
		}
		u.render(w, http.StatusNotFound, "error", errorPage{Title: "Host not found", Message: "No host has MAC " + mac + ".", Viewer: viewerOf(r.Context())})
		return
	}
	http.Redirect(w, r, "/ui/?q="+url.QueryEscape(q), http.StatusSeeOther)
}
