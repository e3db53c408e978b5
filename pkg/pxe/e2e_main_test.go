package pxe_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/dhcprelay"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/pxe"
)

// e2eServerEnv makes the test binary act as the central podboot of the QEMU test: it
// is re-executed inside the central network namespace (the services must bind there),
// serves DHCP and boot from the prepared data dir until SIGTERM, then drains and exits,
// leaving the store for the test to read.
const e2eServerEnv = "PODBOOT_PXE_E2E_SERVER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(e2eServerEnv); dir != "" {
		if err := runCentral(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e central:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runCentral(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		return err
	}
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		return err
	}
	defer as.Close()
	dh, err := dhcprelay.New(dhcprelay.Config{Addr: ":67", BootHTTPPort: 8080}, mgr, nil, log)
	if err != nil {
		return err
	}
	boot, err := pxe.New(pxe.Config{TFTPAddr: ":69", HTTPAddr: ":8080", HTTPSAddr: pxe.Disabled, LeaseIP: dh.LeaseIP}, mgr, as, nil, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- dh.Serve(ctx) }()
	go func() { errc <- boot.Serve(ctx) }()
	log.Info("e2e central ready")
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			stop()
		}
	}
	return first
}
