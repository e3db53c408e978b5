package pxe

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The fixture: two pods on the same loopback provisioning CIDR told apart by giaddr.
//
//	pod-a (not NAT): profile prof-a (bootloader undionly.kpxe, kernel vmlinuz@1, initrd
//	                 initrd.img, stage2 os@1 signed), Artifacts [extra.bin]
//	  hostA   52:54:00:00:00:0a  reserved 127.0.0.1   netboot on
//	  hostOff 52:54:00:00:00:0b  leased   127.0.0.1   netboot off
//	  hostFar 52:54:00:00:00:0c  reserved 127.0.0.9   netboot on
//	pod-b (not NAT): profile prof-b (bootloader b-only.efi)
//	  hostB   52:54:00:00:00:1b  reserved 127.0.0.1
//
// In the store but referenced by nobody: orphan.bin.
const (
	macA   = "52:54:00:00:00:0a"
	macOff = "52:54:00:00:00:0b"
	macFar = "52:54:00:00:00:0c"
	macB   = "52:54:00:00:00:1b"
)

type fixture struct {
	svc     *Service
	mgr     *podmgr.Manager
	writes  *writeCounter // the manager's store
	store   *artifact.Store
	prom    *prometheus.Registry
	content map[string][]byte // artifact name -> bytes
	stop    func()            // ends Serve and waits for it (drains transfers)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newFixture(t *testing.T, tweak func(*Config)) *fixture {
	t.Helper()
	return newFixtureLog(t, tweak, nil)
}

// newFixtureLog is newFixture with the boot service logging to bootLog (nil: the
// fixture's logger, warnings to stderr).
func newFixtureLog(t *testing.T, tweak func(*Config), bootLog *slog.Logger) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	writes := &writeCounter{Store: st}
	mgr, err := podmgr.Open(ctx, writes, log)
	if err != nil {
		t.Fatal(err)
	}
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { as.Close() })
	f := &fixture{mgr: mgr, writes: writes, store: as, prom: prometheus.NewRegistry(), content: map[string][]byte{}}
	add := func(name, version string, kind artifact.Kind, size int, sig []byte) {
		b := randomBytes(t, size)
		if _, err := as.Ingest(ctx, artifact.Meta{Name: name, Version: version, Kind: kind, Signature: sig}, bytes.NewReader(b), nil); err != nil {
			t.Fatal(err)
		}
		f.content[name] = b
	}
	add("undionly.kpxe", "1", artifact.KindBootloader, 70_000, nil)
	add("vmlinuz", "1", artifact.KindKernel, 300_000, nil)
	add("initrd.img", "1", artifact.KindInitrd, 200_000, nil)
	add("os", "1", artifact.KindStage2, 100_000, []byte("detached-cms"))
	add("extra.bin", "1", artifact.KindPackage, 1000, nil)
	add("b-only.efi", "1", artifact.KindBootloader, 5000, nil)
	add("orphan.bin", "1", artifact.KindPackage, 1000, nil)

	leases := map[string]netip.Addr{macOff: netip.MustParseAddr("127.0.0.1")}
	cfg := Config{TFTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPSAddr: Disabled,
		LeaseIP: func(pod, mac string) (netip.Addr, bool) { a, ok := leases[mac]; return a, ok },
		HostToken: func(ctx context.Context, h podmgr.Host, step podmgr.HostStep) (string, error) {
			return mgr.IssueHostTokenWith(ctx, h.MAC, "", time.Hour, step)
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if bootLog == nil {
		bootLog = log
	}
	svc, err := New(cfg, mgr, as, f.prom, bootLog)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	admin := podmgr.Actor{Name: "test", Role: podmgr.RoleAdmin}
	for _, p := range []podmgr.Profile{
		{Name: "prof-a", Bootloaders: podmgr.Bootloaders{BIOS: "undionly.kpxe"}, Kernel: "vmlinuz@1", Initrd: "initrd.img", KernelArgs: "console=ttyS0", Stage2: "os@1"},
		{Name: "prof-b", Bootloaders: podmgr.Bootloaders{BIOS: "b-only.efi"}, Kernel: "vmlinuz@1", Initrd: "initrd.img"},
	} {
		if _, _, err := mgr.ApplyProfile(ctx, admin, p, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []podmgr.Pod{
		{Name: "pod-a", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, Subnets: []podmgr.Subnet{{CIDR: "127.0.0.0/8"}}, ServerAddress: "127.0.0.1", Profile: "prof-a", Artifacts: []string{"extra.bin"}},
		{Name: "pod-b", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.2"}}, Subnets: []podmgr.Subnet{{CIDR: "127.0.0.0/8"}}, ServerAddress: "127.0.0.1", Profile: "prof-b"},
	} {
		if _, err := mgr.CreatePod(ctx, admin, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mgr.AddHosts(ctx, admin, []podmgr.Host{
		{MAC: macA, Pod: "pod-a", ProvisioningIP: "127.0.0.1", Hostname: "node-a"},
		{MAC: macOff, Pod: "pod-a"},
		{MAC: macFar, Pod: "pod-a", ProvisioningIP: "127.0.0.9"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.AddHosts(ctx, admin, []podmgr.Host{{MAC: macB, Pod: "pod-b", ProvisioningIP: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := mgr.RecordHostEvent(ctx, macOff, "test", "installed", "", podmgr.HostUpdate{State: podmgr.StateProvisioned, Netboot: &off}); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx) }()
	stopped := false
	f.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(f.stop)
	return f
}

// writeCounter counts the write transactions the manager asks its store for.
type writeCounter struct {
	podmgr.Store
	n atomic.Int64
}

func (c *writeCounter) Update(ctx context.Context, fn func(podmgr.Tx) error) error {
	c.n.Add(1)
	return c.Store.Update(ctx, fn)
}

func (c *writeCounter) Batch(ctx context.Context, fn func(podmgr.Tx) error) error {
	c.n.Add(1)
	return c.Store.Batch(ctx, fn)
}

func need(t *testing.T, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed: run scripts/deps.sh", b)
			}
			t.Skipf("%s is not installed: run scripts/deps.sh", b)
		}
	}
}

// counter reads one series of a counter vector from the fixture's registry.
func (f *fixture) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := f.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func tftpPath(pod, mac, file string) string { return podmgr.TFTPBootFile(pod, mac, file) }
