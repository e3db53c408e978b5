package docs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
)

// site is the quick starts' network: podboot at 198.51.100.10 in a central namespace,
// a ToR whose rack side (giaddr) is 192.0.2.1, and the rack routed through it.
type site struct {
	tp      *testutil.Topology
	central *testutil.NS
	tor     *testutil.ToR
}

func newSite(t *testing.T) *site {
	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	tor := tp.ToR(central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	tor.RouteRack("192.0.2.0/24")
	return &site{tp: tp, central: central, tor: tor}
}

// env is the shell's environment: the test's, without PODBOOT_* settings, with a
// scratch HOME and TMPDIR (the README's `mktemp -d` lands there), Go's caches kept.
func env(scratch string, extra ...string) []string {
	var out []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PODBOOT_") && !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, "TMPDIR=") {
			out = append(out, e)
		}
	}
	// Go's caches stay where they are (they default to places under HOME).
	goenv, _ := exec.Command("go", "env", "GOMODCACHE", "GOCACHE", "GOPATH").Output()
	for i, v := range strings.Fields(string(goenv)) {
		out = append(out, []string{"GOMODCACHE=", "GOCACHE=", "GOPATH="}[i]+v)
	}
	return append(append(out, "HOME="+scratch, "TMPDIR="+scratch), extra...)
}

// runPage runs the sh blocks of md (from page) in sh, command by command, each changed
// by rewrite (identity but for the documented exceptions of the caller).
func runPage(t *testing.T, sh *shell, page, md string, rewrite func(string) string) {
	t.Helper()
	ran := 0
	for _, b := range blocks(md) {
		if b.lang != "sh" {
			continue
		}
		if b.skip != "" {
			t.Logf("%s:%d: not run: %s", page, b.line, b.skip)
			continue
		}
		for _, c := range commands(b.body) {
			typed := rewrite(c)
			start := time.Now()
			rc, out := sh.run(typed, 15*time.Minute)
			t.Logf("%s:%d: $ %s  (exit %d, %s)\n%s", page, b.line, typed, rc, time.Since(start).Round(time.Millisecond), indent(out))
			if rc != 0 {
				t.Fatalf("%s:%d: %q exited %d:\n%s", page, b.line, typed, rc, out)
			}
			ran++
		}
	}
	if ran == 0 {
		t.Fatalf("%s: no sh command found", page)
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// section is the part of md from the heading to the next heading of the same level.
func section(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("no %q section", heading)
	}
	rest := md[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func readDoc(t *testing.T, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(src, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func srcDir(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestReadmeQuickStart runs README's "Quick start" as written, from the source tree,
// then checks that a PXE client in pod-a's rack gets the bootloader and its script.
func TestReadmeQuickStart(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "udhcpc", "curl", "make", "sfdisk", "mkfs.ext4")
	src := srcDir(t)
	s := newSite(t)
	scratch := t.TempDir()
	sh := startShell(t, s.central, src, env(scratch))
	runPage(t, sh, "README.md", section(t, readDoc(t, src, "README.md"), "## Quick start"), func(c string) string { return c })

	// PODBOOT_TEST_PCAP=FILE records node1's relayed DHCP as podboot sees it (the
	// relay's unicasts and podboot's answers, in the central namespace): it is how
	// testdata/dhcp-relayed.pcap was made.
	var capture *testutil.Proc
	if pcap := os.Getenv("PODBOOT_TEST_PCAP"); pcap != "" {
		capture = s.central.Start(nil, "tcpdump", "-i", "wan0", "-Z", "root", "--immediate-mode", "-U", "-n", "-w", pcap, "udp port 67 or udp port 68")
		testutil.WaitFor(t, 10*time.Second, "tcpdump listening", func() bool { return strings.Contains(capture.Output(), "listening on") })
	}
	s.tor.StartRelay("198.51.100.10")
	script := pxeBoot(t, s.tor, scratch, "52:54:00:12:34:56", "192.0.2.10")
	if capture != nil {
		capture.Stop()
		t.Logf("tcpdump: %s", capture.Output())
	}
	if !strings.HasPrefix(script, "#!ipxe") {
		t.Errorf("node1's iPXE script:\n%s", script)
	}
	// The server fills host show from its lease table: node1 holds 192.0.2.10 now, and
	// boots with its pod's profile.
	if rc, out := sh.run("podboot host show 52:54:00:12:34:56", time.Minute); rc != 0 ||
		!regexp.MustCompile(`leased ip\s+192\.0\.2\.10\b`).MatchString(out) || !regexp.MustCompile(`profile\s+default \(pod\)`).MatchString(out) {
		t.Errorf("host show node1 (rc %d):\n%s", rc, out)
	}
}

// TestQuickstartGuide runs docs/quickstart.md as written, for a podboot installed from
// `make build`, with two path changes: /var/lib/podboot and /etc/podboot.yaml live under
// the test's scratch directory (the machine's own stay untouched).
func TestQuickstartGuide(t *testing.T) {
	testutil.RequireRoot(t, "dhcrelay", "udhcpc", "curl", "make", "sfdisk", "mkfs.ext4", "apt-get", "dpkg-deb")
	src := srcDir(t)
	scratch := t.TempDir()
	bin := filepath.Join(scratch, "bin")
	testutil.Run(t, src, "make", "build", "BIN="+filepath.Join(bin, "podboot"))
	for _, d := range []string{"etc", "var/lib/podboot", "work"} {
		if err := os.MkdirAll(filepath.Join(scratch, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// stage1 build fetches Debian's kernel package into USER_CACHE_DIR/podboot/kernels:
	// make that the kernel cache every QEMU test shares (downloaded once per machine).
	cache := filepath.Join(scratch, "xdg")
	if err := os.MkdirAll(filepath.Join(cache, "podboot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testutil.KernelCacheDir(t), filepath.Join(cache, "podboot", "kernels")); err != nil {
		t.Fatal(err)
	}
	s := newSite(t)
	path := "PATH=" + bin + ":" + filepath.Join(src, "scripts") + ":" + os.Getenv("PATH")
	sh := startShell(t, s.central, filepath.Join(scratch, "work"), append(env(scratch, "XDG_CACHE_HOME="+cache), path))
	rewrite := strings.NewReplacer("/var/lib/podboot", filepath.Join(scratch, "var/lib/podboot"),
		"/etc/podboot.yaml", filepath.Join(scratch, "etc/podboot.yaml"))
	stage1Shim := stage1DefaultKernelShim(t, filepath.Join(bin, "podboot"))
	runPage(t, sh, "docs/quickstart.md", readDoc(t, src, "docs/quickstart.md"), func(c string) string {
		return stage1Shim(rewrite.Replace(c))
	})

	s.tor.StartRelay("198.51.100.10")
	script := pxeBoot(t, s.tor, scratch, "52:54:00:e2:e0:01", "")
	for _, want := range []string{"#!ipxe", "stage1-kernel", "stage1-initrd", "podboot.token=pbh_"} {
		if !strings.Contains(script, want) {
			t.Errorf("node1's iPXE script lacks %q:\n%s", want, script)
		}
	}
}

// stage1DefaultKernelShim: docs/quickstart.md uses stage1 build's default kernel (issue
// 14: Debian's generic kernel, fetched with apt-get). A podboot from before that change
// needs --modules-deb: give it the cached Debian kernel package. Inert once the default
// exists (the binary's help lists --kernel-package).
func stage1DefaultKernelShim(t *testing.T, bin string) func(string) string {
	help, _ := exec.Command(bin, "stage1", "build", "--help").CombinedOutput()
	if bytes.Contains(help, []byte("--kernel-package")) {
		return func(c string) string { return c }
	}
	deb := testutil.DebianCloudKernelDeb(t)
	return func(c string) string {
		if strings.HasPrefix(c, "podboot stage1 build ") && !strings.Contains(c, "--modules") {
			return c + " --modules-deb " + deb
		}
		return c
	}
}

// pxeBoot plays a BIOS PXE ROM and then iPXE on a new rack host with mac, relayed by
// the ToR: DHCP (udhcpc with PXE's options) must offer the bootloader (and wantIP when
// set), TFTP must serve Debian's undionly.kpxe, DHCP with iPXE's user class must offer
// the script's URL; it returns the script.
func pxeBoot(t *testing.T, tor *testutil.ToR, work, mac, wantIP string) string {
	t.Helper()
	h := tor.Host("node", mac)
	dashed := strings.ReplaceAll(mac, ":", "-")
	bios := h.Udhcpc(t, work, "bios", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
	if bios == nil || bios["boot_file"] != "pod-a/"+dashed+"/undionly.kpxe" || (wantIP != "" && bios["ip"] != wantIP) {
		t.Fatalf("BIOS PXE DHCP: %v, want boot_file pod-a/%s/undionly.kpxe and ip %q", bios, dashed, wantIP)
	}
	h.Run("ip", "addr", "add", bios["ip"]+"/24", "dev", "eth0")
	h.Run("ip", "route", "add", "default", "via", "192.0.2.1")
	got := filepath.Join(work, "undionly.kpxe")
	h.Run("curl", "-sSf", "--max-time", "30", "-o", got, "tftp://198.51.100.10/"+bios["boot_file"])
	want, _ := os.ReadFile("/usr/lib/ipxe/undionly.kpxe")
	if b, _ := os.ReadFile(got); len(want) == 0 || !bytes.Equal(b, want) {
		t.Fatalf("TFTP %s: %d bytes, want Debian's undionly.kpxe (%d bytes)", bios["boot_file"], len(b), len(want))
	}
	ipxe := h.Udhcpc(t, work, "ipxe", "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000", "-x", "0x4d:69505845")
	url := "http://198.51.100.10:8080/boot/pod-a/" + dashed + "/script.ipxe"
	if ipxe == nil || ipxe["boot_file"] != url {
		t.Fatalf("iPXE DHCP: %v, want boot_file %s", ipxe, url)
	}
	return h.Run("curl", "-sSf", "--max-time", "30", url)
}
