// Command scale generates the fleet for bench/scale/run.sh and measures lookups in the
// in-memory registry that the DHCP and boot services read.
//
//	go run ./bench/scale gen -pods 4000 -hosts 256 -out DIR
//	go run ./bench/scale lookup -db DATA_DIR/podboot.db -n 1000000
//	go run ./bench/scale lookup -etcd http://127.0.0.1:22379 -prefix /scale/ -cpuprofile load.pprof
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/etcdstore"
	"github.com/podboot/podboot/pkg/podmgr"
)

// openStore opens the bbolt file db, or the etcd store at endpoints.
func openStore(db, endpoints, prefix string) (podmgr.Store, error) {
	if endpoints == "" {
		return podmgr.OpenBolt(db)
	}
	return etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: strings.Split(endpoints, ","), Prefix: prefix, RequestTimeout: 30 * time.Second})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scale gen|lookup [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "lookup":
		err = lookup(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func podName(i int) string { return fmt.Sprintf("pod-%05d", i) }
func circuit(i int) string { return fmt.Sprintf("rack-%05d", i) }
func mac(p, h int) string {
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", p>>8, p&0xff, h>>8, h&0xff)
}
func hostIP(h int) string {
	if h < 250 {
		return fmt.Sprintf("192.0.2.%d", h+2)
	}
	return fmt.Sprintf("198.51.100.%d", h-250+2)
}

// gen writes pods.yaml (one document per pod; every pod shares the same provisioning
// CIDRs and giaddr, told apart by circuit-id) and hosts-NNN.csv files of -chunk pods each.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	pods := fs.Int("pods", 4000, "pods")
	hosts := fs.Int("hosts", 256, "hosts per pod (at most 256)")
	chunk := fs.Int("chunk", 500, "pods per host CSV file (one import call each)")
	out := fs.String("out", ".", "output dir")
	first := fs.Int("first", 0, "number of the first pod (a later import of more pods)")
	fs.Parse(args)
	if *hosts > 256 {
		return fmt.Errorf("-hosts %d: at most 256", *hosts)
	}
	pf, err := os.Create(filepath.Join(*out, "pods.yaml"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(pf)
	for i := *first; i < *first+*pods; i++ {
		fmt.Fprintf(w, `---
name: %s
match:
  - giaddr: 192.0.2.1
    circuitId: %s
subnets:
  - cidr: 192.0.2.0/24
    gateway: 192.0.2.1
  - cidr: 198.51.100.0/24
    gateway: 198.51.100.1
serverAddress: 203.0.113.10
management:
  cidr: 203.0.113.0/24
  gateway: 203.0.113.1
  vlan: 100
profile: default
`, podName(i), circuit(i))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	pf.Close()
	var cw *bufio.Writer
	var cf *os.File
	for i := *first; i < *first+*pods; i++ {
		if (i-*first)%*chunk == 0 {
			if cw != nil {
				cw.Flush()
				cf.Close()
			}
			if cf, err = os.Create(filepath.Join(*out, fmt.Sprintf("hosts-%03d.csv", (i-*first) / *chunk))); err != nil {
				return err
			}
			cw = bufio.NewWriter(cf)
			fmt.Fprintln(cw, "mac,pod,hostname,ip")
		}
		for h := 0; h < *hosts; h++ {
			fmt.Fprintf(cw, "%s,%s,n%05d-%03d,%s\n", mac(i, h), podName(i), i, h, hostIP(h))
		}
	}
	if cw != nil {
		cw.Flush()
		cf.Close()
	}
	return nil
}

// lookup loads the store into a registry (as serve does) and times pod resolution and
// host lookups on random keys.
func lookup(args []string) error {
	fs := flag.NewFlagSet("lookup", flag.ExitOnError)
	db := fs.String("db", "", "podboot.db (serve must be stopped)")
	etcd := fs.String("etcd", "", "etcd endpoints (instead of -db): load as a replica does")
	prefix := fs.String("prefix", "/podboot/", "etcd key prefix")
	n := fs.Int("n", 1_000_000, "lookups of each kind")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the registry load here")
	fs.Parse(args)
	start := time.Now()
	st, err := openStore(*db, *etcd, *prefix)
	if err != nil {
		return err
	}
	defer st.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	m, err := podmgr.Open(context.Background(), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	pprof.StopCPUProfile()
	reg := m.Registry()
	pods := reg.PodNames()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("registry load: %s for %d pods, %d hosts (heap in use %d MiB)\n", time.Since(start).Round(time.Millisecond), len(pods), reg.HostCount(""), ms.HeapInuse>>20)
	perPod := reg.HostCount("") / max(1, len(pods))
	gi := netip.MustParseAddr("192.0.2.1")
	rng := rand.New(rand.NewPCG(1, 2))
	podLat := make([]time.Duration, *n)
	hostLat := make([]time.Duration, *n)
	for i := 0; i < *n; i++ {
		p := rng.IntN(len(pods))
		keys := podmgr.MatchKeys{Giaddr: gi, CircuitID: circuit(p)}
		t0 := time.Now()
		pc, ok := reg.Resolve(keys)
		podLat[i] = time.Since(t0)
		if !ok || pc.Pod.Name != podName(p) {
			return fmt.Errorf("resolve %s: got %v", podName(p), ok)
		}
		macs := mac(p, rng.IntN(max(1, perPod)))
		t0 = time.Now()
		h, ok := reg.Host(macs)
		hostLat[i] = time.Since(t0)
		if !ok || h.Pod != podName(p) {
			return fmt.Errorf("host %s not found", macs)
		}
	}
	report := func(what string, d []time.Duration) {
		slices.Sort(d)
		q := func(f float64) time.Duration { return d[int(f*float64(len(d)-1))] }
		fmt.Printf("%-12s n=%d p50=%s p99=%s p99.9=%s max=%s\n", what, len(d), q(0.50), q(0.99), q(0.999), d[len(d)-1])
	}
	report("pod resolve", podLat)
	report("host lookup", hostLat)
	return nil
}
