package storm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// stormCase is one storm run by the harness.
type stormCase struct {
	hosts, pods int
	stage2MiB   int
	kernelMiB   int
	initrdMiB   int
	wan         *testutil.WANConfig // nil: a veth
	ramp        time.Duration
	profile     time.Duration // CPU profile length; 0: none
	timeout     time.Duration // for the whole storm
	// serveConfig is a YAML file for serve --config (e.g. boot limits); empty: none.
	serveConfig string
}

// stormRun is what the harness measured.
type stormRun struct {
	report  Report
	text    string        // the simulator's printed report
	cpu     time.Duration // podboot's CPU time during the storm
	wall    time.Duration
	rssMax  int64 // podboot's largest RSS sampled during the storm
	rssHWM  int64
	pprof   string        // `go tool pprof -top` of the profile, when taken
	simCPU  time.Duration // the simulator's own CPU time
	simRSS  int64         // the simulator's peak RSS
	refused string        // podboot's non-zero drop and refusal counters after the storm
	states  map[podmgr.HostState]int
	podboot string
}

// stormSite is podboot serving in a central namespace, joined by a veth or an emulated
// WAN to a fleet namespace that owns every site's address (a local route for
// 203.0.113.0/24) and routes for the racks and sites back to it. Everything the
// operator and CI do goes through the real CLI.
type stormSite struct {
	t       *testing.T
	bin     string
	work    string
	data    string
	central *testutil.NS
	fleet   *testutil.ToR
	serve   *testutil.Proc
	admin   *testutil.CLI
	ci      *testutil.CLI
}

const pprofAddr = "127.0.0.1:6060"

func newStormSite(t *testing.T, c stormCase) *stormSite {
	t.Helper()
	testutil.RequireRoot(t, "curl")
	s := &stormSite{t: t, bin: testutil.BuildPodboot(t), work: t.TempDir(), data: t.TempDir()}
	tp := testutil.NewTopology(t)
	s.central = tp.Central(ServerAddr + "/24")
	if c.wan == nil {
		s.fleet = tp.ToR(s.central, "fleet", FleetAddr+"/24", Giaddr+"/24", ServerAddr)
	} else {
		s.fleet, _ = tp.ToROverWAN(s.central, "fleet", FleetAddr+"/24", Giaddr+"/24", ServerAddr, *c.wan)
	}
	s.fleet.RouteRack(RackCIDR)
	s.fleet.RouteRack(SiteCIDR)
	s.fleet.Run("ip", "route", "add", "local", SiteCIDR, "dev", "lo")
	args := []string{s.bin, "serve", "--data-dir", s.data, "--api-addr", "127.0.0.1:9443", "--pprof-addr", pprofAddr, "--log-level", "warn"}
	if c.serveConfig != "" {
		args = append(args, "--config", c.serveConfig)
	}
	s.serve = s.central.Start([]string{"PODBOOT_DHCP_ADDR=:67", "PODBOOT_TFTP_ADDR=:69", "PODBOOT_HTTP_ADDR=:8080", "PODBOOT_HTTPS_ADDR=:8443"}, args...)
	s.admin = s.central.CLI(s.bin, s.data, "127.0.0.1:9443")
	testutil.WaitFor(t, 30*time.Second, "podboot API", func() bool {
		if s.serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", s.serve.Output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := s.admin.Run(ctx, "pod", "list")
		return err == nil
	})
	s.register(c)
	return s
}

// register does what CI and an operator do before the storm: signed images pushed
// with a ci token, a profile, the pods (pod apply -f) and the hosts (host import -f).
func (s *stormSite) register(c stormCase) {
	t := s.t
	pki := filepath.Join(s.data, "pki")
	testutil.Run(t, s.work, s.bin, "ca", "issue", "--code-signing", "ci", "--dir", pki, "--out", s.work)
	tok := strings.TrimSpace(s.admin.MustRun(t, "token", "create", "storm-ci", "--role", "ci", "--allow-kind", "stage2,kernel,initrd,bootloader"))
	s.ci = s.admin.WithToken(tok)
	kpxe := filepath.Join(s.work, "undionly.kpxe")
	testutil.Run(t, s.work, "cp", "/usr/lib/ipxe/undionly.kpxe", kpxe)
	s.push("undionly.kpxe:1", kpxe, "bootloader")
	s.push("stage1-kernel:1", s.randomFile("vmlinuz", c.kernelMiB), "kernel")
	s.push("stage1-initrd:1", s.randomFile("initrd.img", c.initrdMiB), "initrd")
	s.push("os:1", s.randomFile("os.img", c.stage2MiB), "stage2")
	s.applyFile("profile", "storm.yaml", "name: storm\nkernel: stage1-kernel@1\ninitrd: stage1-initrd@1\nkernelArgs: console=ttyS0\nstage2: os@1\n")
	f, err := NewFleet(c.hosts, c.pods)
	if err != nil {
		t.Fatal(err)
	}
	s.applyFile("pod", "pods.yaml", f.PodsYAML("storm"))
	hosts := filepath.Join(s.work, "hosts.csv")
	if err := os.WriteFile(hosts, []byte(f.HostsCSV()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.admin.MustRun(t, "host", "import", "-f", hosts)
}

func (s *stormSite) applyFile(kind, name, body string) {
	p := filepath.Join(s.work, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.admin.MustRun(s.t, kind, "apply", "-f", p)
}

// randomFile writes mib MiB of random bytes (the content of stage1 and stage2 does not
// matter to a simulated host; their size and signature do).
func (s *stormSite) randomFile(name string, mib int) string {
	p := filepath.Join(s.work, name)
	f, err := os.Create(p)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, int64(mib)<<20); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// push signs a file with the CI certificate and pushes it with the ci token.
func (s *stormSite) push(ref, file, kind string) {
	testutil.Run(s.t, s.work, s.bin, "image", "sign", "--cert", filepath.Join(s.work, "ci.pem"), "--key", filepath.Join(s.work, "ci.key"), file, "-o", file+".p7s")
	s.ci.MustRun(s.t, "image", "push", ref, file, "--sig", file+".p7s", "--kind", kind)
}

// storm runs the simulator in the fleet namespace while sampling podboot's CPU and RSS
// and, if asked, taking a CPU profile from its pprof endpoint.
func (s *stormSite) storm(c stormCase) stormRun {
	t := s.t
	sim := testutil.BuildCmd(t, "github.com/podboot/podboot/bench/storm", "storm")
	pid := s.serve.Cmd.Process.Pid
	var run stormRun
	before, err := ReadProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	sampled := make(chan int64)
	go func() { sampled <- sampleRSS(ctx, pid) }()
	var prof sync.WaitGroup
	stormDone := make(chan struct{})
	var profFiles []string
	if c.profile > 0 {
		prof.Add(1)
		go func() {
			defer prof.Done()
			profFiles = s.profile(ctx, stormDone, c.profile)
		}()
	}
	jsonFile := filepath.Join(s.work, "report.json")
	start := time.Now()
	cmd := s.fleet.Cmd(ctx, sim, "-hosts", strconv.Itoa(c.hosts), "-pods", strconv.Itoa(c.pods),
		"-ca", filepath.Join(s.data, "pki", "ca.pem"), "-ramp", c.ramp.String(), "-json", jsonFile)
	out, simErr := cmd.CombinedOutput()
	run.wall = time.Since(start)
	close(stormDone)
	if ps := cmd.ProcessState; ps != nil {
		run.simCPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			run.simRSS = ru.Maxrss << 10
		}
	}
	after, err := ReadProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	run.cpu, run.rssHWM = after.CPU-before.CPU, after.HWM
	prof.Wait()
	cancel()
	run.rssMax = <-sampled
	run.text = string(out)
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatalf("storm simulator: %v (no report: %v)\n%s", simErr, err, out)
	}
	if err := json.Unmarshal(b, &run.report); err != nil {
		t.Fatal(err)
	}
	if len(profFiles) > 0 {
		run.pprof = pprofTop(t, s.bin, profFiles)
	}
	run.refused = s.refusals()
	run.states = s.states()
	run.podboot = s.serve.Output()
	return run
}

// profile takes consecutive CPU profiles of slice each from podboot's pprof endpoint
// until the storm is done (the last one ends up to slice later) and returns their files.
func (s *stormSite) profile(ctx context.Context, done <-chan struct{}, slice time.Duration) []string {
	var files []string
	for i := 0; ; i++ {
		select {
		case <-done:
			return files
		default:
		}
		f := filepath.Join(s.work, fmt.Sprintf("cpu-%03d.pprof", i))
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(slice.Seconds()))
		if out, err := s.central.Cmd(ctx, "curl", "-fsS", "-o", f, url).CombinedOutput(); err != nil {
			s.t.Logf("CPU profile %d: %v %s", i, err, out)
			return files
		}
		files = append(files, f)
	}
}

// pprofTop merges the profiles and lists the top functions by own and by cumulative time.
func pprofTop(t *testing.T, bin string, files []string) string {
	var b strings.Builder
	for _, mode := range [][]string{{"-top"}, {"-top", "-cum"}} {
		args := append(append([]string{"tool", "pprof"}, mode...), append([]string{"-nodecount=25", bin}, files...)...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			t.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		b.Write(out)
	}
	return b.String()
}

// refusals are podboot's non-zero drop, refusal and withheld-token counters, from its
// /metrics: why a host had to retransmit or failed, as podboot saw it.
func (s *stormSite) refusals() string {
	out, err := s.central.Cmd(context.Background(), "curl", "-fsS", "--cacert", filepath.Join(s.data, "pki", "ca.pem"), "https://127.0.0.1:9443/metrics").Output()
	if err != nil {
		s.t.Errorf("GET /metrics: %v", err)
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		name, val, ok := strings.Cut(l, " ")
		if !ok || strings.HasPrefix(l, "#") || val == "0" || !refusalMetric.MatchString(name) {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// logSummary counts podboot's log lines (serve runs at level warn) by message, with
// addresses, MACs and numbers taken out, and lists the n most frequent.
func logSummary(log string, n int) string {
	counts := map[string]int{}
	for _, l := range strings.Split(log, "\n") {
		if l == "" {
			continue
		}
		key := l
		if m := logMsg.FindStringSubmatch(l); m != nil {
			key = m[1] + " " + m[2]
		}
		key = logNoise.ReplaceAllString(key, "#")
		if len(key) > 140 {
			key = key[:140]
		}
		counts[key]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return counts[keys[i]] > counts[keys[j]] || counts[keys[i]] == counts[keys[j]] && keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i == n {
			fmt.Fprintf(&b, "  (%d more kinds)\n", len(keys)-n)
			break
		}
		fmt.Fprintf(&b, "%7d  %s\n", counts[k], k)
	}
	return b.String()
}

var (
	logMsg   = regexp.MustCompile(`level=(\w+) msg="?([^"]*?)"? \w+=`)
	logNoise = regexp.MustCompile(`[0-9a-f]{2}(:[0-9a-f]{2}){5}|\d+(\.\d+){3}(:\d+)?|\d+`)
)

var refusalMetric = regexp.MustCompile(`^podboot_\w*(dropped|refused|withheld|busy|unacked|rejected)\w*`)

// sampleRSS returns the largest VmRSS of pid seen every 100 ms until ctx ends.
func sampleRSS(ctx context.Context, pid int) int64 {
	var maxRSS int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := ReadProc(pid); err == nil && st.RSS > maxRSS {
			maxRSS = st.RSS
		}
		select {
		case <-ctx.Done():
			return maxRSS
		case <-tick.C:
		}
	}
}

// states counts the store's hosts by state, as `podboot host list` reports them. A
// server still recovering from the storm gets a few tries; if it never answers, the
// storm's report is still kept (nil states).
func (s *stormSite) states() map[podmgr.HostState]int {
	var out string
	var err error
	for try := 0; try < 4; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var errs string
		out, errs, err = s.admin.Run(ctx, "host", "list", "-o", "json")
		cancel()
		if err == nil {
			break
		}
		s.t.Logf("host list (try %d): %v %s", try+1, err, errs)
	}
	if err != nil {
		s.t.Errorf("host list: podboot did not answer after the storm: %v", err)
		return nil
	}
	var hosts []podmgr.Host
	if err := json.Unmarshal([]byte(out), &hosts); err != nil {
		s.t.Errorf("host list: %v", err)
		return nil
	}
	n := map[podmgr.HostState]int{}
	for _, h := range hosts {
		n[h.State]++
	}
	return n
}

// summary is the harness's figures after the simulator's report.
func (r stormRun) summary() string {
	var b strings.Builder
	b.WriteString(r.text)
	fmt.Fprintf(&b, "podboot: CPU %.1f s in %.1f s wall (%.0f%% of one core), %.2f ms CPU per host; RSS max %d MiB (peak since start %d MiB)\n",
		r.cpu.Seconds(), r.wall.Seconds(), 100*r.cpu.Seconds()/r.wall.Seconds(), float64(r.cpu.Milliseconds())/float64(max(r.report.Hosts, 1)), r.rssMax>>20, r.rssHWM>>20)
	fmt.Fprintf(&b, "simulator: CPU %.1f s, peak RSS %d MiB\n", r.simCPU.Seconds(), r.simRSS>>20)
	if r.states == nil {
		b.WriteString("store: podboot did not answer host list after the storm\n")
	} else {
		fmt.Fprintf(&b, "store: %v\n", r.states)
	}
	if r.refused != "" {
		b.WriteString("podboot drops and refusals (/metrics):\n" + r.refused)
	}
	if l := logSummary(r.podboot, 12); l != "" {
		b.WriteString("podboot log, warnings and errors by message:\n" + l)
	}
	return b.String()
}
