package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Bounds of events --follow's poll interval: often enough to watch, rarely enough not
// to load the server.
const (
	minFollowInterval = 200 * time.Millisecond
	maxFollowInterval = time.Minute
)

var eventsHeader = []string{"SEQ", "TIME", "KIND", "ACTION", "POD", "MAC", "ACTOR", "SOURCE", "DETAIL"}

// newEventsCmd reads the audit log and host events, page by page (the server answers at
// most 1000 events a request); --follow keeps polling after the last page.
func newEventsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events [--kind audit|host] [--pod POD] [--after SEQ] [--follow]",
		Short: "Show audit records and host events, oldest first",
		Long: `Show audit records (changes made through the management API, with token name and
source address) and host events, oldest first. The server answers in pages; this command
follows them to the end. --after SEQ starts after an event's sequence number.

--follow keeps asking for events after the last one shown, every --interval, until
Ctrl-C; with -o json it prints one event per line.`,
		Args: cobra.NoArgs,
	}
	out := outputFlag(cmd)
	kind := cmd.Flags().String("kind", "", "audit or host (default both)")
	pod := cmd.Flags().String("pod", "", "only this pod's events")
	after := cmd.Flags().Uint64("after", 0, "start after this sequence number")
	follow := cmd.Flags().BoolP("follow", "F", false, "keep polling for new events until interrupted")
	interval := cmd.Flags().Duration("interval", 2*time.Second, fmt.Sprintf("poll interval of --follow (%s to %s)", minFollowInterval, maxFollowInterval))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *follow && (*interval < minFollowInterval || *interval > maxFollowInterval) {
			return &usageError{cmd: cmd, err: fmt.Errorf("--interval %s: give %s to %s", *interval, minFollowInterval, maxFollowInterval)}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		q := url.Values{}
		if *kind != "" {
			q.Set("kind", *kind)
		}
		if *pod != "" {
			q.Set("pod", *pod)
		}
		q.Set("limit", "1000")
		if *follow {
			return followEvents(cmd.Context(), c, q, *after, *interval, cmd.OutOrStdout(), *out)
		}
		if *after != 0 {
			q.Set("after", strconv.FormatUint(*after, 10))
		}
		var evs []podmgr.Event
		err = c.EventPages(cmd.Context(), "/api/v1/events?"+q.Encode(), func(page []podmgr.Event) error {
			evs = append(evs, page...)
			return nil
		})
		if err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, evs, eventsHeader, func() [][]string { return eventRows(evs) })
	}
	return cmd
}

func eventRows(evs []podmgr.Event) [][]string {
	var rows [][]string
	for _, e := range evs {
		rows = append(rows, []string{strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339), string(e.Kind), e.Action,
			orDash(e.Pod), orDash(e.MAC), orDash(e.Actor), orDash(e.Source), orDash(e.Detail)})
	}
	return rows
}

// followEvents prints the events after seq after, then polls for newer ones every
// interval until ctx ends (Ctrl-C), which is not an error.
func followEvents(ctx context.Context, c *api.Client, q url.Values, after uint64, interval time.Duration, w io.Writer, format string) error {
	if format != "json" && format != "table" && format != "" {
		return fmt.Errorf("--output %q: use table or json", format)
	}
	if format != "json" {
		fmt.Fprintln(w, strings.Join(eventsHeader, "\t"))
	}
	enc := json.NewEncoder(w)
	for {
		if after != 0 {
			q.Set("after", strconv.FormatUint(after, 10))
		}
		err := c.EventPages(ctx, "/api/v1/events?"+q.Encode(), func(page []podmgr.Event) error {
			for _, e := range page {
				after = max(after, e.Seq)
				if format == "json" {
					if err := enc.Encode(e); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintln(w, strings.Join(eventRows([]podmgr.Event{e})[0], "\t"))
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
