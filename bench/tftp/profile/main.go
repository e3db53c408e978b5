// Command profile runs the boot service alone (no API, no DHCP) on 127.0.0.1 with one
// pod, host and a 30 MB bootloader, drives N concurrent curl TFTP downloads, and writes
// a CPU profile: where podboot's TFTP time goes, without the rest of podboot serve.
//
//	go run ./bench/tftp/profile -n 10 -cpuprofile /tmp/tftp.pprof
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/pxe"
)

func main() {
	n := flag.Int("n", 10, "concurrent downloads")
	size := flag.Int("size", 30_000_000, "file size")
	blk := flag.Int("blksize", 1468, "block size")
	prof := flag.String("cpuprofile", "", "CPU profile file")
	flag.Parse()
	if err := run(*n, *size, *blk, *prof); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(n, size, blk int, prof string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tftp-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
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
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		return err
	}
	b := make([]byte, size)
	rand.Read(b)
	if _, err := as.Ingest(ctx, artifact.Meta{Name: "boot.bin", Version: "1", Kind: artifact.KindBootloader}, bytes.NewReader(b), nil); err != nil {
		return err
	}
	svc, err := pxe.New(pxe.Config{TFTPAddr: "127.0.0.1:0", HTTPAddr: pxe.Disabled, HTTPSAddr: pxe.Disabled, TFTPBlockSize: blk}, mgr, as, nil, log)
	if err != nil {
		return err
	}
	a := podmgr.Actor{Name: "profile", Role: podmgr.RoleAdmin}
	if _, _, err := mgr.ApplyProfile(ctx, a, podmgr.Profile{Name: "p", Bootloaders: podmgr.Bootloaders{BIOS: "boot.bin"}}, true); err != nil {
		return err
	}
	if _, err := mgr.CreatePod(ctx, a, podmgr.Pod{Name: "bench", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Subnets: []podmgr.Subnet{{CIDR: "127.0.0.0/8"}}, ServerAddress: "127.0.0.1", Profile: "p"}); err != nil {
		return err
	}
	const mac = "52:54:00:be:00:01"
	if _, err := mgr.AddHosts(ctx, a, []podmgr.Host{{MAC: mac, Pod: "bench", ProvisioningIP: "127.0.0.1"}}); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx) }()
	defer func() { cancel(); <-done }()
	url := "tftp://127.0.0.1:" + strconv.Itoa(svc.TFTPAddr().(*net.UDPAddr).Port) + "/" + podmgr.TFTPBootFile("bench", mac, "boot.bin")
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command("curl", "-s", "--max-time", "300", "--tftp-blksize", strconv.Itoa(blk), "-o", "/dev/null", "-w", "%{size_download}", url).Output()
			if err == nil && string(out) == strconv.Itoa(size) {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	blocks := ok * (size/blk + 1)
	fmt.Printf("%d/%d in %.1fs: %.1f MB/s; boot service CPU %.2fs, %.1f µs/block\n", ok, n, el.Seconds(),
		float64(ok*size)/el.Seconds()/1e6, cpu.Seconds(), float64(cpu.Microseconds())/float64(max(blocks, 1)))
	return nil
}

// cpuTime is this process's user+system CPU time: the boot service's cost, without the
// curl clients (separate processes).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
