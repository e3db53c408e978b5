package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/bmc"
	"github.com/podboot/podboot/pkg/podmgr"
)

func newHostImportCmd(cf *clientFlags) *cobra.Command {
	var file, pod string
	cmd := &cobra.Command{
		Use:   "import -f HOSTS.csv [--pod POD]",
		Short: "Register many hosts from CSV (all or none), accept discovered hosts by serial, set their BMCs",
		Long: `Register hosts in bulk from CSV. The first line is a header naming the columns, each
at most once: mac, serial, pod, hostname, ip, mgmt_ip, profile, and the BMC columns
bmc_driver, bmc_address, bmc_port, bmc_user, bmc_password_file, bmc_insecure_tls,
bmc_ca_cert. --pod fills an empty pod. A UTF-8 byte order mark before the header is
skipped.

A row with a mac registers that host. The registration is one transaction: if any row
is wrong, nothing is registered and the error names the row.

A row with a serial (and no mac) accepts the discovered host whose inspection reported
that DMI serial number, as 'host accept' does (hostname, mgmt_ip, profile; a
discovered host keeps its DHCP provisioning address, so ip is refused). Every serial
must match exactly one discovered host (in the row's pod, when it names one), else
nothing is accepted. They are accepted after the mac rows are registered.

BMC columns set the host's BMC as 'host bmc set' does, after its row was registered or
accepted. The password is never in the CSV: bmc_password_file names a file holding it
(first line; relative to the CSV's directory), read before anything is sent, and the
server seals it. A column named bmc_password is refused.`,
		Example: `  mac,pod,hostname,ip,bmc_driver,bmc_address,bmc_user,bmc_password_file
  52:54:00:12:34:56,pod-a,node1,192.0.2.21,ipmi,192.0.2.121,admin,secrets/node1.pw

  serial,pod,hostname,mgmt_ip
  PB-HWA-0001,pod-a,rack1-node1,203.0.113.21`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f FILE is required (use - for standard input)")
			}
			var r io.Reader = os.Stdin
			dir := "."
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				r, dir = f, filepath.Dir(file)
			}
			plan, err := readHostsCSV(r, pod, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			start := time.Now()
			w := cmd.OutOrStdout()
			if len(plan.Hosts) > 0 {
				var out []podmgr.Host
				if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts", api.HostsRequest{Hosts: plan.Hosts}, &out); err != nil {
					return fmt.Errorf("%s: %w (nothing was registered)", file, err)
				}
				fmt.Fprintf(w, "%d hosts registered in %s\n", len(out), time.Since(start).Round(time.Millisecond))
			}
			bmcs := plan.BMCByMAC
			if len(plan.Serials) > 0 {
				var out []podmgr.Host
				err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/accept-serial", api.SerialAcceptRequest{Hosts: plan.Serials}, &out)
				for i, h := range out {
					fmt.Fprintf(w, "serial %s: host %s in pod %s accepted as %s; installed on its next boot\n", plan.Serials[i].Serial, h.MAC, h.Pod, h.Hostname)
					if b, ok := plan.BMCBySerial[plan.Serials[i].Serial]; ok {
						bmcs[h.MAC] = b
					}
				}
				if err != nil {
					return fmt.Errorf("%s: accept by serial: %w", file, err)
				}
			}
			return setImportedBMCs(cmd, c, bmcs)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "CSV file (- for stdin)")
	cmd.Flags().StringVar(&pod, "pod", "", "pod for rows that name none")
	return cmd
}

// setImportedBMCs stores the BMC of each imported host, in MAC order; the first
// failure stops it and says which were set.
func setImportedBMCs(cmd *cobra.Command, c *api.Client, bmcs map[string]bmc.Settings) error {
	macs := make([]string, 0, len(bmcs))
	for mac := range bmcs {
		macs = append(macs, mac)
	}
	slices.Sort(macs)
	for i, mac := range macs {
		var info bmc.Info
		if err := c.Do(cmd.Context(), "PUT", hostPath(mac, "/bmc"), bmcs[mac], &info); err != nil {
			return fmt.Errorf("host %s: bmc: %w (the hosts are registered; %d of %d BMCs were set, in MAC order: set the rest with host bmc set)", mac, err, i, len(macs))
		}
	}
	if len(macs) > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%d BMCs set (passwords sealed on the server)\n", len(macs))
	}
	return nil
}
