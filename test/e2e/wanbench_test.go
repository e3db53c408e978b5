//go:build wanbench

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// TestWANBench measures each boot stage across the emulated WAN, one host at a time, at
// each RTT in PODBOOT_WAN_BENCH (milliseconds, e.g. "0,100,300"), for each path in
// PODBOOT_WAN_PATHS (default "uefi-http,bios-ipxe"; also "uefi-pxe"), with
// PODBOOT_WAN_LOSS (per direction, e.g. 0.01). It writes a Markdown table to
// PODBOOT_WAN_OUT. It is built only with the wanbench tag: bench/wan/run.sh runs it.
func TestWANBench(t *testing.T) {
	rtts := cmpOr(os.Getenv("PODBOOT_WAN_BENCH"), "0,100,300")
	testutil.RequireRoot(t, "dhcrelay", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-deb", "apt-get", "curl")
	loss, _ := strconv.ParseFloat(os.Getenv("PODBOOT_WAN_LOSS"), 64)
	paths := strings.Split(cmpOr(os.Getenv("PODBOOT_WAN_PATHS"), "uefi-http,bios-ipxe"), ",")
	e := newSite(t, &testutil.WANConfig{Loss: loss})
	var mu sync.Mutex
	var rrqs []string
	e.wan.Observe(func(dir int, frame []byte) {
		if file, opts, ok := rrqOptions(frame); ok && dir == 1 {
			mu.Lock()
			rrqs = append(rrqs, file+" "+strings.Join(opts, " "))
			mu.Unlock()
		}
	})
	var table strings.Builder
	fmt.Fprintf(&table, "| path | RTT | loss/dir | stages (s) | offer → installed (s) |\n|---|---|---|---|---|\n")
	i := 0
	for _, ms := range strings.Split(rtts, ",") {
		rtt, err := strconv.Atoi(strings.TrimSpace(ms))
		if err != nil {
			t.Fatalf("PODBOOT_WAN_BENCH %q: %v", rtts, err)
		}
		e.wan.Set(testutil.WANConfig{Delay: time.Duration(rtt) * time.Millisecond / 2, Loss: loss})
		for _, path := range paths {
			i++
			evs := wanBoot(t, e, path, fmt.Sprintf("b%d", i), fmt.Sprintf("52:54:00:e2:e2:%02x", i), nil)
			names, durs, total := stageTimes(evs)
			var st []string
			for k := range names {
				st = append(st, fmt.Sprintf("%s %.1f", names[k], durs[k].Seconds()))
			}
			line := fmt.Sprintf("| %s | %d ms | %.1f %% | %s | %.1f |\n", path, rtt, loss*100, strings.Join(st, ", "), total.Seconds())
			t.Log(strings.TrimSpace(line))
			table.WriteString(line)
		}
	}
	mu.Lock()
	seen := map[string]bool{}
	for _, r := range rrqs {
		if !seen[r] {
			seen[r] = true
			fmt.Fprintf(&table, "\nTFTP RRQ seen: `%s`\n", r)
		}
	}
	mu.Unlock()
	if out := os.Getenv("PODBOOT_WAN_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("\n%s", table.String())
}
