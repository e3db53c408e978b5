package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newHostReprovisionCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reprovision MAC",
		Short: "Install a host again: netboot on, state registered; its next PXE boot gets a new token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var h podmgr.Host
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/"+url.PathEscape(args[0])+"/reprovision", nil, &h); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s in pod %s: state %s, netboot on; power-cycle it into PXE to reinstall\n", h.MAC, h.Pod, h.State)
			return nil
		},
	}
}

func newHostWatchCmd(cf *clientFlags) *cobra.Command {
	var pod, until string
	var timeout time.Duration
	out := ""
	cmd := &cobra.Command{
		Use:   "watch [--pod NAME] [--until STATE] [--timeout D]",
		Short: "Follow hosts' provisioning live: current states, then every event as it happens",
		Long: `Prints the current state of every host (of --pod, or of all pods), then each host event
as it happens, until interrupted. With --until STATE it exits 0 once every watched host
has reached STATE, and non-zero if one fails first or --timeout passes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			q := url.Values{}
			if pod != "" {
				q.Set("pod", pod)
			}
			req, err := http.NewRequestWithContext(ctx, "GET", c.Base()+"/api/v1/watch?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+c.Token())
			// The watch is long-lived: no response-header timeout beyond the client's.
			resp, err := c.HTTPClient().Do(req)
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				var eb api.ErrorBody
				if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
					eb.Error = strings.TrimSpace(string(b))
				}
				return &api.Error{Status: resp.StatusCode, Message: eb.Error}
			}
			w := cmd.OutOrStdout()
			states := map[string]podmgr.HostState{}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				var ev podmgr.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					return fmt.Errorf("watch: bad line from server: %w", err)
				}
				if ev.Action == "keepalive" {
					continue
				}
				if ev.MAC != "" && ev.State != "" {
					states[ev.MAC] = ev.State
				}
				if out == "json" {
					fmt.Fprintln(w, sc.Text())
				} else {
					fmt.Fprintf(w, "%s  %-10s %-17s %-12s %-18s %s\n", ev.Time.Local().Format("15:04:05"), ev.Pod, ev.MAC, orDash(string(ev.State)), ev.Action, ev.Detail)
				}
				if until != "" && len(states) > 0 {
					done := true
					for mac, st := range states {
						if st == podmgr.StateFailed && until != string(podmgr.StateFailed) {
							return fmt.Errorf("host %s failed: %s", mac, ev.Detail)
						}
						done = done && string(st) == until
					}
					if done {
						return nil
					}
				}
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				return fmt.Errorf("watch: %w", err)
			}
			if ctx.Err() != nil && until != "" {
				return fmt.Errorf("watch: hosts did not all reach %s within %s", until, timeout)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pod, "pod", "", "only hosts of this pod")
	f.StringVar(&until, "until", "", "exit once every watched host is in this state (e.g. provisioned)")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: never)")
	f.StringVarP(&out, "output", "o", "table", "output format: table or json (one event a line)")
	return cmd
}
