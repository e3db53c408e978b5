package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

The whole CSV is one import, all or none: if any row is wrong (or a discovered host
it names was accepted meanwhile, on this server or another replica), nothing is
registered, accepted or set, and the error names the row.

A row with a mac registers that host.

A row with a serial (and no mac) accepts the discovered host whose inspection reported
that DMI serial number, as 'host accept' does (hostname, mgmt_ip, profile; a
discovered host keeps its DHCP provisioning address, so ip is refused). Every serial
must match exactly one discovered host (in the row's pod, when it names one).

BMC columns set the host's BMC as 'host bmc set' does, in the same import. A row with
bmc_address alone (no driver, user or password file) uses its pod's BMC defaults for
the rest; it is refused when the pod has none. The password is never in the CSV:
bmc_password_file names a file holding it (first line; relative to the CSV's
directory), read before anything is sent, and the server seals it. A column named bmc_password is refused.`,
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
			return runImport(cmd, c, file, plan)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "CSV file (- for stdin)")
	cmd.Flags().StringVar(&pod, "pod", "", "pod for rows that name none")
	return cmd
}

// runImport sends the plan as one import and says what it did. A CSV of mac rows
// without BMCs goes to the bulk registration route; anything else to the import
// route, which also accepts serial rows and seals BMC passwords. Either is all or none.
func runImport(cmd *cobra.Command, c *api.Client, file string, plan importPlan) error {
	start := time.Now()
	w := cmd.OutOrStdout()
	var out []podmgr.Host
	if len(plan.Serials) == 0 && len(plan.BMCByMAC) == 0 {
		if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts", api.HostsRequest{Hosts: plan.Hosts}, &out); err != nil {
			return fmt.Errorf("%s: %w (nothing was registered)", file, err)
		}
		fmt.Fprintf(w, "%d hosts registered in %s\n", len(out), time.Since(start).Round(time.Millisecond))
		return nil
	}
	req := bmc.ImportRequest{Hosts: plan.Hosts, Serials: plan.Serials, BMCByMAC: plan.BMCByMAC, BMCBySerial: plan.BMCBySerial}
	if err := c.Do(cmd.Context(), "POST", "/api/v1/hosts/import", req, &out); err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", file, err)
	}
	if len(out) != len(plan.Hosts)+len(plan.Serials) {
		return fmt.Errorf("%s: the server answered %d hosts for %d rows", file, len(out), len(plan.Hosts)+len(plan.Serials))
	}
	if len(plan.Hosts) > 0 {
		fmt.Fprintf(w, "%d hosts registered in %s\n", len(plan.Hosts), time.Since(start).Round(time.Millisecond))
	}
	for i, h := range out[len(plan.Hosts):] {
		fmt.Fprintf(w, "serial %s: host %s in pod %s accepted as %s; installed on its next boot\n", plan.Serials[i].Serial, h.MAC, h.Pod, h.Hostname)
	}
	if n := len(plan.BMCByMAC) + len(plan.BMCBySerial); n > 0 {
		fmt.Fprintf(w, "%d BMCs set (passwords sealed on the server)\n", n)
	}
	return nil
}
