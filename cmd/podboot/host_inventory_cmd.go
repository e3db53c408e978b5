package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// inventoryRows summarises a host's inventory for host show (none when it has none).
func inventoryRows(ctx context.Context, c *api.Client, mac string) [][]string {
	var rec podmgr.Inventory
	var inv agentproto.Inventory
	if c.Do(ctx, "GET", "/api/v1/hosts/"+url.PathEscape(mac)+"/inventory", nil, &rec) != nil || json.Unmarshal(rec.Data, &inv) != nil {
		return nil
	}
	rows := [][]string{{"system", fmt.Sprintf("%s %s serial=%s", inv.System.Vendor, inv.System.Product, orDash(inv.System.Serial))},
		{"cpus / memory", fmt.Sprintf("%d / %d MiB", inv.CPU.Count, inv.MemoryBytes>>20)}}
	for _, d := range inv.Disks {
		rows = append(rows, []string{"disk " + d.Name, fmt.Sprintf("%d MB %s serial=%s", d.SizeBytes/1000/1000, orDash(d.Bus), orDash(d.Serial))})
	}
	for _, n := range inv.NICs {
		rows = append(rows, []string{"nic " + n.Name, fmt.Sprintf("%s %s link=%v", n.MAC, orDash(n.Driver), n.Link)})
		if l := n.LLDP; l != nil {
			rows = append(rows, []string{"lldp " + n.Name, fmt.Sprintf("%s port %s", orDash(l.SystemName), l.PortID)})
		}
	}
	return rows
}

func newHostInventoryCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory MAC",
		Short: "Show what the host's stage1 agent found: DMI, CPUs, memory, disks, NICs, LLDP neighbours, BMC address",
		Long: `Shows the inventory the stage1 agent reported before it chose and wrote the install
disk (the agent.inventory event summarises it). -o json prints the stored record.`,
		Args: cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		var rec podmgr.Inventory
		if err := c.Do(cmd.Context(), "GET", "/api/v1/hosts/"+url.PathEscape(args[0])+"/inventory", nil, &rec); err != nil {
			return err
		}
		var inv agentproto.Inventory
		if err := json.Unmarshal(rec.Data, &inv); err != nil {
			return fmt.Errorf("inventory of %s: %w", args[0], err)
		}
		return printOut(cmd.OutOrStdout(), *out, rec, []string{"KIND", "NAME", "DETAIL"}, func() [][]string {
			rows := [][]string{
				{"system", orDash(inv.System.Product), fmt.Sprintf("vendor=%q serial=%q uuid=%s", inv.System.Vendor, inv.System.Serial, orDash(inv.System.UUID))},
				{"cpu", strconv.Itoa(inv.CPU.Count), orDash(inv.CPU.Model)},
				{"memory", fmt.Sprintf("%d MiB", inv.MemoryBytes>>20), ""},
			}
			for _, d := range inv.Disks {
				rows = append(rows, []string{"disk", d.Name, fmt.Sprintf("%d MB bus=%s model=%q serial=%q wwn=%s rotational=%v removable=%v",
					d.SizeBytes/1000/1000, orDash(d.Bus), d.Model, d.Serial, orDash(d.WWN), d.Rotational, d.Removable)})
			}
			for _, n := range inv.NICs {
				rows = append(rows, []string{"nic", n.Name, fmt.Sprintf("mac=%s driver=%s pci=%s link=%v speed=%dMb/s", n.MAC, orDash(n.Driver), orDash(n.PCI), n.Link, n.SpeedMbps)})
				if l := n.LLDP; l != nil {
					rows = append(rows, []string{"lldp", n.Name, fmt.Sprintf("switch=%q chassis=%s port=%q port-description=%q", l.SystemName, l.ChassisID, l.PortID, l.PortDescription)})
				}
			}
			if b := inv.BMC; b != nil {
				rows = append(rows, []string{"bmc", b.Address, fmt.Sprintf("netmask=%s gateway=%s mac=%s source=%s channel=%d", orDash(b.Netmask), orDash(b.Gateway), orDash(b.MAC), orDash(b.Source), b.Channel)})
			}
			return rows
		})
	}
	return cmd
}
