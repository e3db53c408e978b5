package web

import (
	"net/url"
	"strconv"
)

// Page sizes: a page shows at most this many rows, whatever the fleet's size.
const (
	podsPerPage  = 50
	hostsPerPage = 100
	// maxTimeline is how many of a host's latest events its page shows.
	maxTimeline = 200
)

// pager is the ?page=N of a list (1-based) and the links to its neighbours.
type pager struct {
	Page, Pages, Total, First, Last int
	Prev, Next                      string
}

// pageNumber reads ?page=N; anything else is page 1.
func pageNumber(q url.Values) int {
	n, err := strconv.Atoi(q.Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// newPager describes page of total rows, per to a page; base carries the other query
// parameters of the links.
func newPager(page, per, total int, base url.Values) pager {
	pages := max(1, (total+per-1)/per)
	page = min(page, pages)
	p := pager{Page: page, Pages: pages, Total: total}
	if total > 0 {
		p.First = (page-1)*per + 1
		p.Last = min(page*per, total)
	}
	link := func(n int) string {
		q := url.Values{}
		for k, v := range base {
			if len(v) > 0 && v[0] != "" {
				q.Set(k, v[0])
			}
		}
		q.Set("page", strconv.Itoa(n))
		return "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if page < pages {
		p.Next = link(page + 1)
	}
	return p
}

// offset is the first row of the pager's page.
func (p pager) offset(per int) int { return (p.Page - 1) * per }
