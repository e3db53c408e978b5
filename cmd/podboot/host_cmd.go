package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newHostCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Register and manage hosts"}
	cmd.AddCommand(newHostAddCmd(cf), newHostImportCmd(cf), newHostListCmd(cf), newHostShowCmd(cf), newHostEventsCmd(cf), newHostInventoryCmd(cf), newHostAcceptCmd(cf), newHostDeleteCmd(cf), newHostReprovisionCmd(cf), newHostNetbootCmd(cf), newHostWatchCmd(cf), newHostTimelineCmd(cf))
	cmd.AddCommand(hostBMCCmds(cf)...)
	return cmd
}

func newHostAddCmd(cf *clientFlags) *cobra.Command {
	var h podmgr.Host
	cmd := &cobra.Command{
		Use:   "add MAC --pod POD [--hostname NAME] [--ip ADDR] [--mgmt-ip ADDR] [--profile NAME]",
		Short: "Register one host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h.MAC = args[0]
			c, err := cf.client()
			if err != nil {
				return err
			}
			var out []podmgr.Host
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts", api.HostsRequest{Hosts: []podmgr.Host{h}}, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s registered in pod %s\n", out[0].MAC, out[0].Pod)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&h.Pod, "pod", "", "pod the host is in")
	f.StringVar(&h.Hostname, "hostname", "", "host name")
	f.StringVar(&h.ProvisioningIP, "ip", "", "reserved provisioning address")
	f.StringVar(&h.ManagementIP, "mgmt-ip", "", "management network address")
	f.StringVar(&h.Profile, "profile", "", "profile override")
	_ = cmd.MarkFlagRequired("pod")
	return cmd
}

func newHostListCmd(cf *clientFlags) *cobra.Command {
	var pod string
	var where []string
	cmd := &cobra.Command{Use: "list [--pod POD] [--where FIELD=VALUE]...", Short: "List hosts, or those whose inventory matches",
		Long: `Lists hosts. --where keeps the hosts whose stage1 inventory has FIELD equal to VALUE
(case-insensitive, whole values; several --where must all hold):

  serial    DMI system serial or any disk serial
  wwn       any disk WWN
  model     any disk model
  vendor    DMI system vendor
  product   DMI product name
  mac       any NIC's MAC in the inventory

--where reads the stored inventories (with --pod only that pod's): see docs/agent.md
for what it costs.`,
		Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		q := url.Values{}
		if pod != "" {
			q.Set("pod", pod)
		}
		for _, w := range where {
			q.Add("where", w)
		}
		path := "/api/v1/hosts"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var hs []api.HostView
		if err := c.Do(cmd.Context(), "GET", path, nil, &hs); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, hs, []string{"MAC", "POD", "HOSTNAME", "IP", "PROFILE", "STATE", "NETBOOT"}, func() [][]string {
			var rows [][]string
			for _, h := range hs {
				nb := "off"
				if h.Netboot {
					nb = "on"
				}
				rows = append(rows, []string{h.MAC, h.Pod, orDash(h.Hostname), hostIP(h), hostProfile(h), string(h.State), nb})
			}
			return rows
		})
	}
	cmd.Flags().StringVar(&pod, "pod", "", "only this pod's hosts")
	cmd.Flags().StringArrayVar(&where, "where", nil, "FIELD=VALUE on the inventory: serial, wwn, model, vendor, product, mac (repeatable: all must hold)")
	return cmd
}

func newHostShowCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "show MAC", Short: "Show a host", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var h api.HostView
		if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(args[0]), nil, &h); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, h, []string{"FIELD", "VALUE"}, func() [][]string {
			nb := "off"
			if h.Netboot {
				nb = "on"
			}
			rows := [][]string{{"mac", h.MAC}, {"pod", h.Pod}, {"hostname", orDash(h.Hostname)},
				{"provisioning ip", orDash(h.ProvisioningIP)}, {"leased ip", orDash(h.LeasedIP)}, {"management ip", orDash(h.ManagementIP)},
				{"profile", hostProfile(h)}, {"state", string(h.State)}, {"reason", orDash(h.StateReason)}, {"netboot", nb}}
			return append(rows, inventoryRows(cmd.Context(), c, h.MAC)...)
		})
	}
	return cmd
}

func newHostEventsCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "events MAC", Short: "Show a host's provisioning events", Args: cobra.ExactArgs(1)}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var evs []podmgr.Event
		err = c.EventPages(cmd.Context(), "/api/v1/hosts/"+url.PathEscape(args[0])+"/events", func(page []podmgr.Event) error {
			evs = append(evs, page...)
			return nil
		})
		if err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, evs, []string{"TIME", "ACTION", "STATE", "ACTOR", "SOURCE", "DETAIL"}, func() [][]string {
			var rows [][]string
			for _, e := range evs {
				rows = append(rows, []string{e.Time.Format(time.RFC3339), e.Action, orDash(string(e.State)), orDash(e.Actor), orDash(e.Source), orDash(e.Detail)})
			}
			return rows
		})
	}
	return cmd
}

func newHostDeleteCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete MAC",
		Short: "Delete a host",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/hosts/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "host %s deleted\n", args[0])
			return nil
		},
	}
}

// hostIP is the host's reserved provisioning address, else the one its dynamic lease
// holds (marked "lease"), else "-".
func hostIP(h api.HostView) string {
	switch {
	case h.ProvisioningIP != "":
		return h.ProvisioningIP
	case h.LeasedIP != "":
		return h.LeasedIP + " (lease)"
	}
	return "-"
}

// hostProfile is the profile the host boots with and where it comes from: "NAME (host)"
// for an override, "NAME (pod)" for its pod's.
func hostProfile(h api.HostView) string {
	if h.EffectiveProfile == "" {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", h.EffectiveProfile, h.ProfileFrom)
}
