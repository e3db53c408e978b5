// Command storm is bench/storm's fleet simulator (internal/storm): it boots -hosts
// hosts across -pods pods against a running podboot and prints the report. It must run
// in a network namespace that holds the sites' addresses (run.sh and TestStorm set one
// up); the fleet is the one internal/storm.NewFleet generates for the same numbers,
// registered beforehand through the CLI.
//
//	storm -hosts 1000 -pods 100 -ca DATA/pki/ca.pem [-ramp 0s] [-json report.json]
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/podboot/podboot/internal/storm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

func run() error {
	hosts := flag.Int("hosts", 50, "hosts")
	pods := flag.Int("pods", 5, "pods (hosts are spread round-robin)")
	server := flag.String("server", storm.ServerAddr, "podboot's address")
	ca := flag.String("ca", "", "podboot's root CA (DATA_DIR/pki/ca.pem): the agent's pinned root")
	ramp := flag.Duration("ramp", 0, "spread the power-ons over this long (0: all at once)")
	hostTimeout := flag.Duration("host-timeout", 10*time.Minute, "give up on a host after this long")
	jsonOut := flag.String("json", "", "also write the report as JSON here")
	flag.Parse()

	f, err := storm.NewFleet(*hosts, *pods)
	if err != nil {
		return err
	}
	srv, err := netip.ParseAddr(*server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		return fmt.Errorf("read the root CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", *ca)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := storm.Run(context.Background(), storm.Config{Fleet: f, Server: srv, Roots: roots, Ramp: *ramp, HostTimeout: *hostTimeout, Log: log})
	if rep != nil {
		rep.Print(os.Stdout)
		if *jsonOut != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(*jsonOut, b, 0o644)
			}
			if jerr != nil {
				return fmt.Errorf("write %s: %w", *jsonOut, jerr)
			}
		}
	}
	return err
}
