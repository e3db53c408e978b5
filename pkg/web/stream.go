package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// keepAlive is how often an idle stream sends a comment, so proxies and the browser
// tell a quiet host from a dead connection.
const keepAlive = 15 * time.Second

// liveEvent is one "host" message of the stream.
type liveEvent struct {
	podmgr.Event
	// HostState, HostReason and HostNetboot are the host after the event (the event's own state is
	// empty for events that do not move the host).
	HostState   podmgr.HostState `json:"hostState"`
	HostReason  string           `json:"hostReason,omitempty"`
	HostNetboot bool             `json:"hostNetboot"`
}

// stream sends a host's events after ?after (or Last-Event-ID on a reconnect) as
// server-sent events, read from the event store: at once when this replica records
// one, and every poll interval for those other replicas record. Each carries its
// sequence as the SSE id, so a reconnecting browser misses nothing and sees nothing twice.
func (u *UI) stream(w http.ResponseWriter, r *http.Request) {
	mac, err := podmgr.NormalizeMAC(r.PathValue("mac"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok := u.mgr.Registry().Host(mac); !ok {
		http.Error(w, "no such host", http.StatusNotFound)
		return
	}
	after := lastSeq(r)
	ch, cancel := u.mgr.Subscribe()
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	poll := time.NewTicker(u.poll)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		evs, err := u.mgr.HostEventsPage(r.Context(), mac, after, 100)
		if err != nil && r.Context().Err() == nil {
			u.log.Warn("web stream: read host events", "host", mac, "err", err)
		}
		for _, e := range evs {
			if err := u.send(w, mac, e); err != nil {
				return
			}
			after, lastWrite = e.Seq, time.Now()
		}
		if time.Since(lastWrite) >= keepAlive {
			fmt.Fprint(w, ": keep-alive\n\n")
			lastWrite = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if len(evs) == 100 {
			continue // more are waiting
		}
		if !wait(r, ch, poll.C, mac) {
			return
		}
	}
}

// wait returns when an event of mac is published or the poll ticks; false when the
// client has gone.
func wait(r *http.Request, ch <-chan podmgr.Event, tick <-chan time.Time, mac string) bool {
	for {
		select {
		case <-r.Context().Done():
			return false
		case <-tick:
			return true
		case e := <-ch:
			if e.MAC == mac {
				return true
			}
		}
	}
}

func (u *UI) send(w http.ResponseWriter, mac string, e podmgr.Event) error {
	le := liveEvent{Event: e}
	if h, ok := u.mgr.Registry().Host(mac); ok {
		le.HostState, le.HostReason, le.HostNetboot = h.State, h.StateReason, h.Netboot
	}
	b, err := json.Marshal(le)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: host\ndata: %s\n\n", e.Seq, b)
	return err
}

// lastSeq is where a stream starts: Last-Event-ID when the browser reconnects, else ?after.
func lastSeq(r *http.Request) uint64 {
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n
		}
	}
	return 0
}
