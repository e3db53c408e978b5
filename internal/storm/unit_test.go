package storm

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseScript(t *testing.T) {
	for _, tc := range []struct {
		name, in        string
		kernel, cmdline string
		initrd, err     string
	}{
		{name: "shipped template",
			in:     "#!ipxe\n# comment\necho podboot\nkernel http://198.51.100.10:8080/boot/p/m/vmlinuz initrd=initrd.img console=ttyS0 podboot.token=abc || goto failed\ninitrd http://198.51.100.10:8080/boot/p/m/initrd.img || goto failed\nboot || goto failed\n",
			kernel: "http://198.51.100.10:8080/boot/p/m/vmlinuz", cmdline: "initrd=initrd.img console=ttyS0 podboot.token=abc",
			initrd: "http://198.51.100.10:8080/boot/p/m/initrd.img"},
		{name: "local boot", in: "#!ipxe\necho netboot is off\nexit\n", err: "no kernel or no initrd"},
		{name: "not a script", in: "<html>", err: "not an iPXE script"},
		{name: "kernel only", in: "#!ipxe\nkernel http://x/k\n", err: "no kernel or no initrd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseScript([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.kernel != tc.kernel || s.cmdline != tc.cmdline || s.initrd != tc.initrd {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add([]byte("#!ipxe\nkernel http://a/k x=y || goto failed\ninitrd http://a/i\n"))
	f.Add([]byte("#!ipxe\nexit\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseScript(b)
		if err == nil && (s.kernel == "" || s.initrd == "") {
			t.Fatalf("no error but %+v", s)
		}
	})
}

func TestNewFleet(t *testing.T) {
	for _, tc := range []struct {
		hosts, pods int
		err         string
	}{
		{hosts: 1000, pods: 100},
		{hosts: MaxPods * MaxHostsPerPod, pods: MaxPods},
		{hosts: 10, pods: 0, err: "pods 0"},
		{hosts: 10, pods: MaxPods + 1, err: "pods"},
		{hosts: 0, pods: 1, err: "hosts 0"},
		{hosts: MaxHostsPerPod + 1, pods: 1, err: "per pod"},
	} {
		f, err := NewFleet(tc.hosts, tc.pods)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NewFleet(%d, %d): err %v, want %q", tc.hosts, tc.pods, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("NewFleet(%d, %d): %v", tc.hosts, tc.pods, err)
		}
		macs, sources := map[string]bool{}, map[string]bool{}
		for _, h := range f.Hosts {
			if macs[h.MAC] {
				t.Fatalf("MAC %s twice", h.MAC)
			}
			macs[h.MAC] = true
		}
		for _, p := range f.Pods {
			if sources[p.Source.String()] || !strings.HasPrefix(p.Source.String(), "203.0.113.") {
				t.Fatalf("pod %s source %s: repeated or outside %s", p.Name, p.Source, SiteCIDR)
			}
			sources[p.Source.String()] = true
		}
		if n := strings.Count(f.PodsYAML("storm"), "\nname: "); n != tc.pods {
			t.Errorf("PodsYAML has %d pods, want %d", n, tc.pods)
		}
		if n := strings.Count(f.HostsCSV(), "\n"); n != tc.hosts+1 {
			t.Errorf("HostsCSV has %d lines, want %d", n, tc.hosts+1)
		}
	}
	a, _ := NewFleet(30, 7)
	b, _ := NewFleet(30, 7)
	if a.HostsCSV() != b.HostsCSV() || a.PodsYAML("x") != b.PodsYAML("x") {
		t.Fatal("the same numbers gave two fleets")
	}
}

func TestQuantiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(d)
	if q.P50 != 51*time.Millisecond || q.P99 != 99*time.Millisecond || q.Max != 100*time.Millisecond {
		t.Fatalf("got %+v", q)
	}
	if (quantiles(nil) != Quantiles{}) {
		t.Fatal("empty sample")
	}
}

func TestReadProc(t *testing.T) {
	// Burn a little CPU so the count is above zero.
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.RSS <= 0 || s.HWM < s.RSS {
		t.Fatalf("got %+v (%d)", s, x)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Fatal("pid -1: no error")
	}
}

func TestLogSummary(t *testing.T) {
	log := `time=2026-11-26T16:42:46.559Z level=WARN msg="tftp refused" pod=storm-001 host=02:5b:00:00:00:01 reason=busy
time=2026-11-26T16:42:47.559Z level=WARN msg="tftp refused" pod=storm-002 host=02:5b:00:00:00:02 reason=busy
2026/11/26 16:42:48 http: TLS handshake error from 203.0.113.10:41234: EOF
time=2026-11-26T16:42:49.559Z level=ERROR msg=oops pod=storm-001
`
	got := logSummary(log, 2)
	if !strings.HasPrefix(got, "      2  WARN tftp refused\n") || !strings.Contains(got, "http: TLS handshake error from #: EOF\n") || !strings.HasSuffix(got, "  (1 more kinds)\n") {
		t.Fatalf("got:\n%s", got)
	}
}
