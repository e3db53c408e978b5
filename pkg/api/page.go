package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/podboot/podboot/pkg/podmgr"
)

// Event reads are paged: ?after=SEQ&limit=N answers at most N events (default
// DefaultPageSize, at most MaxPageSize) with Seq > SEQ, oldest first. When more follow,
// the answer carries the cursor of the next page in HeaderNextAfter (and a Link
// rel="next"); without the header the reader has everything.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	HeaderNextAfter = "Podboot-Next-After"
)

// pageOf reads after and limit from the query.
func pageOf(w http.ResponseWriter, r *http.Request) (after uint64, limit int, ok bool) {
	q := r.URL.Query()
	limit = DefaultPageSize
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("after %s is not an event sequence number", Quote(v)))
			return 0, 0, false
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("limit %s: use 1 to %d (default %d)", Quote(v), MaxPageSize, DefaultPageSize))
			return 0, 0, false
		}
		limit = n
	}
	return after, limit, true
}

// writePage answers the first limit of evs (read with limit+1) and, when there was one
// more, the cursor of the next page.
func writePage(w http.ResponseWriter, r *http.Request, evs []podmgr.Event, limit int) {
	if len(evs) > limit {
		evs = evs[:limit]
		next := strconv.FormatUint(evs[len(evs)-1].Seq, 10)
		w.Header().Set(HeaderNextAfter, next)
		q := r.URL.Query()
		q.Set("after", next)
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
	}
	WriteJSON(w, http.StatusOK, nonNil(evs))
}
