package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newHostCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Register and manage hosts"}
	cmd.AddCommand(newHostAddCmd(cf), newHostImportCmd(cf), newHostListCmd(cf), newHostShowCmd(cf), newHostEventsCmd(cf), newHostInventoryCmd(cf), newHostAcceptCmd(cf), newHostDeleteCmd(cf), newHostReprovisionCmd(cf), newHostNetbootCmd(cf), newHostWatchCmd(cf))
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

// csvColumns are the columns host import understands; mac is required.
var csvColumns = []string{"mac", "pod", "hostname", "ip", "mgmt_ip", "profile"}

const utf8BOM = "\ufeff"

// readHostsCSV parses a host CSV with a header row; defaultPod fills an empty pod column.
// A UTF-8 byte order mark (what spreadsheets write) before the header is skipped.
func readHostsCSV(r io.Reader, defaultPod string) ([]podmgr.Host, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the CSV is empty: the first line must be a header such as mac,pod,hostname,ip,mgmt_ip,profile")
	}
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(name))
		known := false
		for _, c := range csvColumns {
			known = known || c == name
		}
		if !known {
			return nil, fmt.Errorf("CSV header column %q is unknown: use %s", name, strings.Join(csvColumns, ","))
		}
		if j, dup := col[name]; dup {
			return nil, fmt.Errorf("CSV header names column %q twice (columns %d and %d): which one holds the value?", name, j+1, i+1)
		}
		col[name] = i
	}
	if _, ok := col["mac"]; !ok {
		return nil, errors.New("CSV header has no mac column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var hosts []podmgr.Host
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		h := podmgr.Host{MAC: get(rec, "mac"), Pod: firstNonEmpty(get(rec, "pod"), defaultPod), Hostname: get(rec, "hostname"),
			ProvisioningIP: get(rec, "ip"), ManagementIP: get(rec, "mgmt_ip"), Profile: get(rec, "profile")}
		if h.Pod == "" {
			return nil, fmt.Errorf("CSV line %d: no pod: add a pod column or pass --pod", line)
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, errors.New("the CSV has a header but no hosts")
	}
	return hosts, nil
}

func newHostImportCmd(cf *clientFlags) *cobra.Command {
	var file, pod string
	cmd := &cobra.Command{
		Use:   "import -f HOSTS.csv [--pod POD]",
		Short: "Register many hosts from CSV, all or none",
		Long: `Register hosts in bulk from CSV. The first line is a header naming the columns
(mac, pod, hostname, ip, mgmt_ip, profile; only mac is required; each at most once;
--pod fills an empty pod). A UTF-8 byte order mark before the header is skipped.
The import is one transaction: if any row is wrong, nothing is registered and the error
names the row.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f FILE is required (use - for standard input)")
			}
			var r io.Reader = os.Stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			hosts, err := readHostsCSV(r, pod)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			start := time.Now()
			var out []podmgr.Host
			if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts", api.HostsRequest{Hosts: hosts}, &out); err != nil {
				return fmt.Errorf("%s: %w (nothing was registered)", file, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d hosts registered in %s\n", len(out), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "CSV file (- for stdin)")
	cmd.Flags().StringVar(&pod, "pod", "", "pod for rows that name none")
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

--where reads the stored inventories (with --pod only that pod's): see docs/hardware.md
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
