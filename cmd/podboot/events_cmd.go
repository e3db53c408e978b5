package main

import (
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/podmgr"
)

// newEventsCmd reads the audit log and host events, page by page (the server answers at
// most 1000 events a request).
func newEventsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events [--kind audit|host] [--pod POD] [--after SEQ]",
		Short: "Show audit records and host events, oldest first",
		Long: `Show audit records (changes made through the management API, with token name and
source address) and host events, oldest first. The server answers in pages; this command
follows them to the end. --after SEQ starts after an event's sequence number.`,
		Args: cobra.NoArgs,
	}
	out := outputFlag(cmd)
	kind := cmd.Flags().String("kind", "", "audit or host (default both)")
	pod := cmd.Flags().String("pod", "", "only this pod's events")
	after := cmd.Flags().Uint64("after", 0, "start after this sequence number")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
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
		if *after != 0 {
			q.Set("after", strconv.FormatUint(*after, 10))
		}
		q.Set("limit", "1000")
		var evs []podmgr.Event
		err = c.EventPages(cmd.Context(), "/api/v1/events?"+q.Encode(), func(page []podmgr.Event) error {
			evs = append(evs, page...)
			return nil
		})
		if err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, evs, []string{"SEQ", "TIME", "KIND", "ACTION", "POD", "MAC", "WHO", "DETAIL"}, func() [][]string {
			var rows [][]string
			for _, e := range evs {
				rows = append(rows, []string{strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339), string(e.Kind), e.Action,
					orDash(e.Pod), orDash(e.MAC), orDash(firstNonEmpty(e.Actor, e.Source)), orDash(e.Detail)})
			}
			return rows
		})
	}
	return cmd
}
