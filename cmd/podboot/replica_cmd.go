package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podboot/podboot/pkg/replica"
)

// addReplicaFlags adds serve's replica identity and liveness flags (docs/ha.md).
func addReplicaFlags(f *pflag.FlagSet) {
	f.String("replica-name", "", "this replica's name among the replicas of one etcd store; default the host name (env PODBOOT_REPLICA_NAME)")
	f.String("advertise-dhcp", "", "IPv4 address DHCP replies of the pods this replica owns carry as server identifier, next-server and boot URL host; default each pod's serverAddress (env PODBOOT_ADVERTISE_DHCP)")
	f.String("advertise-tftp", "", "TFTP URL of this replica, in its member record (env PODBOOT_ADVERTISE_TFTP)")
	f.String("advertise-http", "", "boot HTTP URL of this replica, in its member record (env PODBOOT_ADVERTISE_HTTP)")
	f.String("advertise-https", "", "boot HTTPS URL of this replica, given to iPXE and agents for failover (env PODBOOT_ADVERTISE_HTTPS)")
	f.String("advertise-api", "", "management API URL of this replica, in its member record (env PODBOOT_ADVERTISE_API)")
	f.Duration("replica-ttl", replica.DefaultTTL, "session lease TTL: a dead replica's pods move after about TTL + confirm delay")
	f.Duration("replica-confirm-delay", replica.DefaultConfirmDelay, "how long a vanished replica stays suspect before its pods move (the second liveness round)")
}

func newReplicaCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "replica", Short: "Show the replicas sharing the etcd store and the pods each owns"}
	cmd.AddCommand(newReplicaListCmd(cf))
	return cmd
}

func newReplicaListCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List live replicas, their health and the pods each owns", Args: cobra.NoArgs}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var st replica.Status
		if err := c.Do(cmd.Context(), "GET", "/api/v1/replicas", nil, &st); err != nil {
			return err
		}
		return printOut(cmd.OutOrStdout(), *out, st, []string{"NAME", "HEALTH", "PODS", "DHCP", "HTTPS", "API", "SINCE"}, func() [][]string {
			var rows [][]string
			for _, m := range st.Members {
				name := m.Name
				if m.Self {
					name += " (answered)"
				}
				rows = append(rows, []string{name, m.Health, strings.Join(m.Pods, ","), m.Advertise.DHCP, m.Advertise.HTTPS, m.Advertise.API,
					m.Started.Format(time.RFC3339)})
			}
			if len(st.Unowned) > 0 {
				rows = append(rows, []string{"(no owner)", "", strings.Join(st.Unowned, ","), "", "", "", ""})
			}
			return rows
		})
	}
	return cmd
}
