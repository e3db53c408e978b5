package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/fleet"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The fleet view's commands: pod status, pod check, host timeline (docs/fleet.md).

func newPodStatusCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [POD]",
		Short: "Show pod health: hosts by state, provisions, failures, stage latency, relays",
		Long: `Show the health of one pod, or a line per pod: hosts by state, provisions and failures
in the last hour and day, failures by stage and reason, p50/p99 of each stage and of first
DHCP to installed (last day), and the last packet from each relay (silent when quiet for
fleet.relaySilence, 15 minutes by default).`,
		Args: cobra.MaximumNArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if len(args) == 0 {
			var all []fleet.PodStatus
			if err := c.Do(cmd.Context(), "GET", "/api/v1/status", nil, &all); err != nil {
				return err
			}
			return printOut(w, *out, all, []string{"POD", "HOSTS", "STATES", "PROV/1H", "PROV/1D", "FAILED/1D", "P50", "P99", "RELAYS", "SILENT"}, func() [][]string {
				var rows [][]string
				for _, s := range all {
					tot := total(s.Latency)
					rows = append(rows, []string{s.Pod, strconv.Itoa(s.Hosts), states(s.HostsByState), strconv.Itoa(s.ProvisionedHour),
						strconv.Itoa(s.ProvisionedDay), strconv.Itoa(s.FailedDay), secs(tot.P50, tot.Count), secs(tot.P99, tot.Count),
						strconv.Itoa(len(s.Relays)), strconv.Itoa(silent(s.Relays))})
				}
				return rows
			})
		}
		var s fleet.PodStatus
		if err := c.Do(cmd.Context(), "GET", "/api/v1/pods/"+url.PathEscape(args[0])+"/status", nil, &s); err != nil {
			return err
		}
		if *out != "table" {
			return printOut(w, *out, s, nil, nil)
		}
		return printPodStatus(w, s)
	}
	return cmd
}

func printPodStatus(w io.Writer, s fleet.PodStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pod %s: %d hosts (%s)\n", s.Pod, s.Hosts, states(s.HostsByState))
	fmt.Fprintf(tw, "provisioned: %d last hour, %d last day; failed: %d last hour, %d last day; in progress: %d\n",
		s.ProvisionedHour, s.ProvisionedDay, s.FailedHour, s.FailedDay, s.InProgress)
	fmt.Fprintln(tw, "\nSTAGE\tCOUNT\tP50\tP99\tMAX")
	for _, l := range s.Latency {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", l.Stage, l.Count, secs(l.P50, l.Count), secs(l.P99, l.Count), secs(l.Max, l.Count))
	}
	fmt.Fprintln(tw, "\nFAILED IN\tCOUNT\tLAST HOST\tREASON")
	for _, f := range s.Failures {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.Stage, f.Count, f.LastMAC, f.Reason)
	}
	fmt.Fprintln(tw, "\nRELAY\tGIADDR\tLAST PACKET\tPACKETS\tSILENT")
	for _, r := range s.Relays {
		last := r.Last.UTC().Format(time.RFC3339)
		if r.NeverHeard {
			last = "never (a match rule names it)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\n", r.Source, r.Giaddr, last, r.Packets, r.Silent)
	}
	return tw.Flush()
}

func newPodCheckCmd(cf *clientFlags) *cobra.Command {
	var minutes int
	cmd := &cobra.Command{
		Use:   "check POD",
		Short: "Check a pod's relays: what reached podboot, what was answered, and near-misses",
		Long: `Check a pod's relays from podboot's side: the packets seen from its relays in the last
--minutes, the match rule they hit, whether they carried option 82, how many were answered
and why the others were dropped (no_pod, wrong_pod, unknown_host, refused, ...), and the
near-misses that explain a silent pod: a wrong relay source, a giaddr outside every pod, a
missing option 82 a rule needs, a relay sending to the wrong server port (seen on
dhcp.probeAddrs). Relay observations are this podboot replica's own.`,
		Args: cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.Flags().IntVar(&minutes, "minutes", fleet.DefaultCheckMinutes, "look at the last N minutes")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var rep fleet.CheckReport
		path := "/api/v1/pods/" + url.PathEscape(args[0]) + "/check?minutes=" + strconv.Itoa(minutes)
		if err := c.Do(cmd.Context(), "GET", path, nil, &rep); err != nil {
			return err
		}
		if *out != "table" {
			return printOut(cmd.OutOrStdout(), *out, rep, nil, nil)
		}
		return printCheck(cmd.OutOrStdout(), rep)
	}
	return cmd
}

func printCheck(w io.Writer, rep fleet.CheckReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pod %s, last %d minutes, podboot DHCP port %d\n\n", rep.Pod, rep.Minutes, rep.ServerPort)
	fmt.Fprintln(tw, "RELAY\tGIADDR\tRULE\tOPTION82\tPACKETS\tANSWERED\tDROPPED\tLAST")
	for _, r := range rep.Relays {
		opt := "no"
		if r.Option82 > 0 {
			opt = fmt.Sprintf("yes (%d)", r.Option82)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Source, r.Giaddr, orDash(r.RuleText), opt, r.Packets, r.Answered,
			dropped(r), r.Last.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Findings) == 0 {
		_, err := fmt.Fprintln(w, "\nno problems found")
		return err
	}
	fmt.Fprintln(w, "\nFINDINGS")
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "  %s: %s\n", f.Kind, f.Message)
	}
	return nil
}

func dropped(r fleet.RelayReport) string {
	if r.Dropped == 0 {
		return "0"
	}
	var parts []string
	for k, v := range r.DropReasons {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d (%s)", r.Dropped, strings.Join(parts, " "))
}

func newHostTimelineCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "timeline MAC",
		Short: "Show a host's provision attempts: each stage reached, when, and how long it took",
		Args:  cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var res fleet.HostTimelineResult
		if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(args[0])+"/timeline", nil, &res); err != nil {
			return err
		}
		if *out != "table" {
			return printOut(cmd.OutOrStdout(), *out, res, nil, nil)
		}
		return printTimeline(cmd.OutOrStdout(), res)
	}
	return cmd
}

func printTimeline(w io.Writer, res fleet.HostTimelineResult) error {
	if len(res.Attempts) == 0 {
		_, err := fmt.Fprintf(w, "host %s: no provision attempt in its events (none started by a DHCP offer)\n", res.MAC)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, t := range res.Attempts {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "attempt %d of %s (pod %s): %s", i+1, res.MAC, t.Pod, t.Outcome)
		switch t.Outcome {
		case fleet.OutcomeInstalled:
			fmt.Fprintf(tw, " in %s", secs(t.TotalSeconds, 1))
		case fleet.OutcomeFailed:
			fmt.Fprintf(tw, " in stage %s after %s: %s", t.Stuck, secs(t.TotalSeconds, 1), t.Reason)
		case fleet.OutcomeInProgress:
			fmt.Fprintf(tw, ", waiting for %s", t.Stuck)
		}
		fmt.Fprintln(tw, "\nSTAGE\tAT\tTOOK\tEVENT\tDETAIL")
		for _, m := range t.Marks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Stage, m.At.UTC().Format(time.RFC3339), secs(m.Seconds, 1), m.Action, orDash(m.Detail))
		}
	}
	return tw.Flush()
}

func total(ls []fleet.Latency) fleet.Latency {
	for _, l := range ls {
		if l.Stage == fleet.StageTotal {
			return l
		}
	}
	return fleet.Latency{}
}

func secs(v float64, n int) string {
	if n == 0 {
		return "-"
	}
	return (time.Duration(v * float64(time.Second))).Round(time.Millisecond).String()
}

func silent(rs []fleet.RelayStatus) int {
	n := 0
	for _, r := range rs {
		if r.Silent {
			n++
		}
	}
	return n
}

// states writes counts by state in provisioning order, e.g. "provisioned=3 failed=1".
func states(m map[podmgr.HostState]int) string {
	var parts []string
	for _, s := range []podmgr.HostState{podmgr.StateRegistered, podmgr.StateDiscovered, podmgr.StateOffered, podmgr.StateBooting,
		podmgr.StateVerified, podmgr.StateInstalling, podmgr.StateProvisioned, podmgr.StateFailed} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", s, m[s]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
