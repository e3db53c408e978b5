// Command profile runs podboot's DHCP service alone (the same pkg/dhcprelay server that
// `podboot serve` runs, on the same bbolt store) with a CPU profile, for bench/dhcp/run.sh
// PROFILE=1: the service is what the benchmark measures, and the profile shows where its
// time goes. It serves until SIGTERM or SIGINT, then writes the profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func main() {
	dir := flag.String("data-dir", "", "podboot data dir (seeded by bench/dhcp/seed)")
	addr := flag.String("addr", ":67", "DHCP listen address")
	cpu := flag.String("cpuprofile", "", "write a CPU profile here")
	mem := flag.String("memprofile", "", "write an allocation profile here")
	workers := flag.Int("workers", 0, "DHCP workers (0: the default)")
	flag.Parse()
	if err := run(*dir, *addr, *cpu, *mem, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(dir, addr, cpu, mem string, workers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	defer dumpMetrics(reg)
	srv, err := dhcprelay.New(dhcprelay.Config{Addr: addr, Workers: workers}, mgr, reg, log)
	if err != nil {
		return err
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	err = srv.Serve(ctx)
	if mem != "" {
		f, err := os.Create(mem)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return err
}

// dumpMetrics prints the DHCP service's counters and histograms (outcomes, commit time
// and batch size) to stderr.
func dumpMetrics(reg prometheus.Gatherer) {
	mfs, err := reg.Gather()
	if err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		return
	}
	enc := expfmt.NewEncoder(os.Stderr, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
}
