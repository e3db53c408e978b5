package pxe_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/pxe"
)

// benchTFTPFile is the size of the file BenchmarkTFTPTransfer fetches: 375 blocks of 1400.
const benchTFTPFile = 512 << 10

// BenchmarkTFTPTransfer is one TFTP download of a 512 KiB bootloader through the real
// handler over loopback, with pin/tftp's client in the same process: path, gate, slot,
// artifact, every DATA block and its ACK, and the host event of the transfer. It uses
// only the package's exported API, so bench/hotpath/run.sh can build it at older
// revisions too; it reports blocks/op for per-block figures.
func BenchmarkTFTPTransfer(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	mgr, err := podmgr.Open(ctx, st, log)
	if err != nil {
		b.Fatal(err)
	}
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		b.Fatal(err)
	}
	defer as.Close()
	// Fixed content: the same digest and store layout on every run and revision.
	content := bytes.Repeat([]byte("podboot-tftp-bench\n"), benchTFTPFile/19+1)[:benchTFTPFile]
	if _, err := as.Ingest(ctx, artifact.Meta{Name: "boot.bin", Version: "1", Kind: artifact.KindBootloader}, bytes.NewReader(content), nil); err != nil {
		b.Fatal(err)
	}
	admin := podmgr.Actor{Name: "bench", Role: podmgr.RoleAdmin}
	const mac = "52:54:00:00:00:01"
	if _, _, err := mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "bench", Bootloaders: podmgr.Bootloaders{BIOS: "boot.bin"}}, true); err != nil {
		b.Fatal(err)
	}
	if _, _, err := mgr.ApplyPod(ctx, admin, podmgr.Pod{Name: "bench", Profile: "bench", ServerAddress: "127.0.0.1",
		Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Subnets: []podmgr.Subnet{{CIDR: "127.0.0.0/8"}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := mgr.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "bench", ProvisioningIP: "127.0.0.1"}}); err != nil {
		b.Fatal(err)
	}
	// Long timeouts: under valgrind a slow ACK must not turn into a retransmit.
	svc, err := pxe.New(pxe.Config{TFTPAddr: "127.0.0.1:0", HTTPAddr: pxe.Disabled, HTTPSAddr: pxe.Disabled, TFTPTimeout: 30 * time.Second}, mgr, as, nil, log)
	if err != nil {
		b.Fatal(err)
	}
	// The service is left running when the benchmark returns: pin/tftp's Shutdown closes
	// the socket before it cancels its read loop, which spins in between (allocating
	// 64 KiB a turn) for as long as the scheduler lets it, and would make the
	// instruction counts of bench/hotpath/run.sh vary from run to run.
	go svc.Serve(ctx)
	c, err := tftp.NewClient(svc.TFTPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	c.SetBlockSize(1400)
	c.SetTimeout(30 * time.Second)
	path := podmgr.TFTPBootFile("bench", mac, "boot.bin")
	b.SetBytes(benchTFTPFile)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		wt, err := c.Receive(path, "octet")
		if err != nil {
			b.Fatal(err)
		}
		if n, err := wt.WriteTo(io.Discard); err != nil || n != benchTFTPFile {
			b.Fatalf("received %d bytes: %v", n, err)
		}
	}
	b.ReportMetric(float64(benchTFTPFile/1400+1), "blocks/op")
}
