// Command seed registers the benchmark pod in a podboot data dir (bench/dhcp/run.sh).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/podboot/podboot/pkg/podmgr"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: seed DATA_DIR GIADDR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(dir, giaddr string) error {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := podmgr.Open(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	a := podmgr.Actor{Name: "bench", Role: podmgr.RoleAdmin}
	if _, _, err := m.ApplyProfile(ctx, a, podmgr.Profile{Name: "default"}, false); err != nil {
		return err
	}
	_, _, err = m.ApplyPod(ctx, a, podmgr.Pod{Name: "bench", Profile: "default", ServerAddress: "198.51.100.10",
		UnknownHosts: podmgr.PolicyLease, Match: []podmgr.MatchRule{{Giaddr: giaddr}},
		Subnets: []podmgr.Subnet{{CIDR: "198.51.100.0/24", Gateway: giaddr, LeaseSeconds: 600, RangeStart: "198.51.100.20", RangeEnd: "198.51.100.250"}}})
	return err
}
