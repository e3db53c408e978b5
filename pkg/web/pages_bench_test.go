package web

import (
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
	for _, bc := range []struct{ name, path string }{
		{"fleet first page", "/ui/"},
		{"fleet last page", "/ui/?page=80"},
		{"fleet search", "/ui/?q=pod-0399"},
		{"pod of 250", "/ui/pods/pod-01234"},
		{"pod of 250 failed", "/ui/pods/pod-01234?state=failed"},
		{"pod of 100k", "/ui/pods/big"},
		{"pod of 100k search", "/ui/pods/big?q=n65535-0999"},
		{"pod of 100k page 500", "/ui/pods/big?page=500"},
		{"host", "/ui/hosts/02:04:d2:00:00:07"},
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
