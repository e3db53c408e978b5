package web

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPages renders each page against a registry of PODBOOT_BENCH_PODS pods (default
// 4,000) of 250 hosts, one million hosts, plus a pod of 100,000 hosts, and 200,000 host
// events of the last day (events.max, the most the store keeps), which a pod page's
// last-day status reads:
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 200x ./pkg/web
//
// Building the store takes a few minutes; the numbers are per page. cpu-ms/op is the
// process's CPU time (user and system) per page: on a shared machine the wall time
// (ns/op) also counts the time other processes held the cores.
func BenchmarkPages(b *testing.B) {
	pods := 4000
	if v, err := strconv.Atoi(os.Getenv("PODBOOT_BENCH_PODS")); err == nil && v > 0 {
		pods = v
	}
	f := newFleet(b, pods, 250, 100_000, 200_000)
	b.Logf("registry: %d pods, %d hosts", len(f.mgr.Registry().PodNames()), f.mgr.Registry().HostCount(""))
	mid := pods / 3
	pod := fmt.Sprintf("pod-%05d", mid)
	host := benchHost(pod, mid, 7, time.Now()).MAC
	for _, bc := range []struct{ name, path string }{
		{"fleet first page", "/ui/"},
		{"fleet last page", fmt.Sprintf("/ui/?page=%d", (pods+podsPerPage)/podsPerPage)},
		{"fleet search", "/ui/?q=" + pod[:len(pod)-1]},
		{"pod of 250", "/ui/pods/" + pod},
		{"pod of 250 failed", "/ui/pods/" + pod + "?state=failed"},
		{"pod last day", "/ui/pods/" + pod + "/status"},
		{"pod of 100k", "/ui/pods/big"},
		{"pod of 100k search", "/ui/pods/big?q=n65535-0999"},
		{"pod of 100k page 500", "/ui/pods/big?page=500"},
		{"host", "/ui/hosts/" + host},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				if rec := f.get(b, bc.path, f.viewer); rec.Code != http.StatusOK {
					b.Fatalf("%s: HTTP %d", bc.path, rec.Code)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
