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
	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newHostReprovisionCmd(cf *clientFlags) *cobra.Command {
	var powerCycle, uefi bool
	var via string
	var bf bulkFlags
	cmd := &cobra.Command{
		Use:   "reprovision MAC [--power-cycle [--uefi] | --via virtual-media | --pod POD --power-cycle]",
		Short: "Install a host again: netboot on, state registered; its next PXE boot gets a new token",
		Long: `Returns a host to registered with netboot on; its next PXE boot installs it again.
With --power-cycle podboot also drives the host's BMC: next boot from the network (UEFI
when the host last booted UEFI, or with --uefi), then a power cycle (power on when it
is off). If setting the boot device fails, nothing is switched. --pod does this for
every host of a pod, at most --parallel at once.
With --via virtual-media (Redfish BMCs) the host needs no DHCP server: podboot builds
its stage1 ISO (its provisioningIp as a static address, a new token), inserts it as the
virtual CD, sets the next boot to the CD once and power-cycles; after 'installed' it
ejects the media and clears the boot override.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			switch via {
			case "", bmc.ViaNetwork:
			case bmc.ViaVirtualMedia:
				var u *bool
				if cmd.Flags().Changed("uefi") {
					u = &uefi
				}
				return bf.run(cmd, args, c, func(ctx context.Context, mac string) (string, error) { return reprovisionVirtualMedia(ctx, c, mac, u) })
			default:
				return fmt.Errorf("--via %q: want %s or %s", via, bmc.ViaNetwork, bmc.ViaVirtualMedia)
			}
			if powerCycle {
				var u *bool
				if cmd.Flags().Changed("uefi") {
					u = &uefi
				}
				return bf.run(cmd, args, c, func(ctx context.Context, mac string) (string, error) { return reprovisionPowerCycle(ctx, c, mac, u) })
			}
			if bf.pod != "" || len(args) != 1 {
				return fmt.Errorf("give one MAC (--pod needs --power-cycle)")
			}
			var h podmgr.Host
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/"+url.PathEscape(args[0])+"/reprovision", nil, &h); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s in pod %s: state %s, netboot on; power-cycle it into PXE to reinstall\n", h.MAC, h.Pod, h.State)
			return nil
		},
	}
	cmd.Flags().BoolVar(&powerCycle, "power-cycle", false, "through the host's BMC: next boot network, then power-cycle")
	cmd.Flags().BoolVar(&uefi, "uefi", false, "with --power-cycle or --via virtual-media: UEFI boot (default: as the host last booted)")
	cmd.Flags().StringVar(&via, "via", "", "virtual-media: through the host's Redfish BMC, boot a per-host stage1 ISO (no DHCP needed), then power-cycle")
	bf.register(cmd)
	return cmd
}

func newHostNetbootCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "netboot off|on MAC",
		Short: "Turn a host's netboot off or on by hand (on issues no token and returns the host to registered)",
		Long: `Turns a host's netboot off or on without installing anything.

off: DHCP gives the host an address but no boot program, TFTP sends it nothing, its iPXE
script answers local boot, and its provisioning token is dropped, so an install in
progress stops at its next request. The host's state stays where it got to.

on: the host may PXE boot again. No token is issued now: the next iPXE script brings one,
as after reprovision. The host returns to registered (a discovered host stays
discovered), so its next boot is tracked from the start. A provisioned host is refused:
turning its netboot on would install it again, which is what 'podboot host reprovision'
is for.

Asking for the setting a host already has changes nothing and says so.`,
		Example:   "  podboot host netboot off 52:54:00:12:34:56\n  podboot host netboot on 52:54:00:12:34:56",
		Args:      netbootArgs,
		ValidArgs: []string{"off", "on"},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			on := args[0] == "on"
			var res api.NetbootResult
			if err := c.Do(cmd.Context(), "PUT", "/api/v1/hosts/"+url.PathEscape(args[1])+"/netboot", api.NetbootRequest{Netboot: &on}, &res); err != nil {
				return err
			}
			h := res.Host
			if !res.Changed {
				fmt.Fprintf(cmd.OutOrStdout(), "host %s in pod %s: netboot already %s, nothing changed (state %s)\n", h.MAC, h.Pod, args[0], h.State)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s in pod %s: netboot %s, state %s\n", h.MAC, h.Pod, args[0], h.State)
			return nil
		},
	}
}

// netbootArgs wants "off" or "on", then a MAC.
func netbootArgs(_ *cobra.Command, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want 2 arguments, off|on and a MAC (e.g. 'podboot host netboot off 52:54:00:12:34:56'), got %d", len(args))
	}
	if args[0] != "off" && args[0] != "on" {
		return fmt.Errorf("first argument %q: say off or on, then the host's MAC", args[0])
	}
	return nil
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

func newHostAcceptCmd(cf *clientFlags) *cobra.Command {
	var req api.AcceptRequest
	cmd := &cobra.Command{
		Use:   "accept MAC --hostname NAME [--ip MGMT_IP] [--profile NAME]",
		Short: "Accept a discovered host: it is installed on its next boot (until then it is only inspected)",
		Long: `A pod whose unknown-host policy is discover records an unknown MAC as discovered and
boots it into inspection only: the stage1 agent reports its inventory (see
'podboot host inventory MAC') and powers off without writing a disk; the agent API
refuses it the image, the kickstart and the installed call-back. Accepting gives it a
hostname, a management address and optionally a profile and makes it a registered host,
installed on its next PXE boot.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var h podmgr.Host
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/"+url.PathEscape(args[0])+"/accept", req, &h); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s in pod %s accepted as %s: state %s; power-cycle it into PXE to install\n", h.MAC, h.Pod, h.Hostname, h.State)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Hostname, "hostname", "", "hostname to give the host (required)")
	f.StringVar(&req.ManagementIP, "ip", "", "management address (as host add --mgmt-ip)")
	f.StringVar(&req.Profile, "profile", "", "profile (default: the pod's)")
	_ = cmd.MarkFlagRequired("hostname")
	return cmd
}
