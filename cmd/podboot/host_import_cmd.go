package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
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

The command waits for the server's answer 5 minutes, or 10 ms a row when that is longer
(a large import on etcd takes minutes); if the wait runs out it says that the outcome is
not known and where to look, rather than that the server cannot be reached.

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
		out, err := registerHosts(cmd, c, file, plan.Hosts, importWait(len(plan.Hosts)))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%d hosts registered in %s\n", len(out), time.Since(start).Round(time.Millisecond))
		return nil
	}
	req := bmc.ImportRequest{Hosts: plan.Hosts, Serials: plan.Serials, BMCByMAC: plan.BMCByMAC, BMCBySerial: plan.BMCBySerial}
	if err := c.WithResponseWait(importWait(len(plan.Hosts)+len(plan.Serials))).Do(cmd.Context(), "POST", "/api/v1/hosts/import", req, &out); err != nil {
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

// importWait is how long host import waits for the server to answer n hosts: the
// client's usual 5 minutes, or 10 ms a host when that is longer. The server answers
// once every host is stored (or none is), and an import's time grows with its rows:
// 10 ms a host is 100 hosts/s, a tenth of what etcd took at load 30 on 2 cores
// (docs/ha.md), so a large import that is progressing is not cut off.
func importWait(n int) time.Duration {
	return max(5*time.Minute, time.Duration(n)*10*time.Millisecond)
}

// registerHosts sends the mac rows in one call and waits up to wait for the answer,
// saying so first when the wait is long. A wait that runs out is not "cannot reach":
// the server has the request and its outcome is not known here.
func registerHosts(cmd *cobra.Command, c *api.Client, file string, hosts []podmgr.Host, wait time.Duration) ([]podmgr.Host, error) {
	if wait > 5*time.Minute {
		fmt.Fprintf(cmd.ErrOrStderr(), "registering %d hosts: the server answers once all are stored or none is (waiting up to %s)\n", len(hosts), wait.Round(time.Second))
	}
	var out []podmgr.Host
	err := c.WithResponseWait(wait).Do(cmd.Context(), "POST", "/api/v1/hosts", api.HostsRequest{Hosts: hosts}, &out)
	var ue *url.Error
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &ue) && ue.Timeout():
		return nil, fmt.Errorf("%s: the server received the %d hosts but did not answer within %s: it may still be working on them, or have finished; whether they were registered is not known here. Look for the import's audit events (podboot events --kind audit: host.add, or host.import.rollback when it was undone) before sending the file again", file, len(hosts), wait.Round(time.Second))
	}
	return nil, fmt.Errorf("%s: %w (nothing was registered)", file, err)
}
