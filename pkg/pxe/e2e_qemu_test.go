package pxe_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestQEMUBootThroughRelay is the boot path end to end with real parts: QEMU (TCG) with
// Debian's iPXE ROM on a ToR's rack bridge, ISC dhcrelay on the ToR relaying across a
// routed "WAN" to the central namespace, where this test binary runs podboot's DHCP and
// boot services. The VM gets its address, fetches its per-host script over HTTP, loads
// Debian's cloud kernel and a tiny initrd whose /init powers off. The test asserts that
// QEMU exited by itself, that the init ran, and that podboot recorded every step.
//
//	central 198.51.100.10 --- tor-a wan 198.51.100.2 / rack 192.0.2.1 --- tap --- QEMU
func TestQEMUBootThroughRelay(t *testing.T) {
	testutil.RequireRoot(t, "qemu-system-x86_64", "dhcrelay", "apt-get", "dpkg-deb", "cpio", "gzip")
	const mac = "52:54:00:e2:e0:01"
	kernel := testutil.DebianCloudVmlinuz(t)
	initrd := poweroffInitrd(t)

	dir := t.TempDir()
	prepareCentral(t, dir, mac, kernel, initrd)

	tp := testutil.NewTopology(t)
	central := tp.Central("198.51.100.10/24")
	tor := tp.ToR(central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	tor.RouteRack("192.0.2.0/24")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := central.Start([]string{e2eServerEnv + "=" + dir}, self, "-test.run=^$")
	testutil.WaitFor(t, 30*time.Second, "central podboot to listen", func() bool {
		return strings.Contains(srv.Output(), "e2e central ready") || srv.Exited()
	})
	if srv.Exited() {
		t.Fatalf("central exited: %s", srv.Output())
	}
	tor.StartRelay("198.51.100.10")
	tor.StartRouterAdvertisements()
	tap := testutil.GuestTap(t, tor, "vm0")

	vm := tor.Start(nil, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",bootindex=1")
	testutil.WaitFor(t, 4*time.Minute, "the VM to power itself off", vm.Exited)
	out := vm.Output()
	if err := vm.Cmd.ProcessState; err == nil || !err.Success() {
		t.Fatalf("qemu did not exit cleanly: %v\n%s", vm.Cmd.ProcessState, out)
	}
	if !strings.Contains(out, "podboot-e2e: stage1 init is running") {
		t.Fatalf("the served initrd's /init did not run; VM output:\n%s", out)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("central: %v\n%s", err, srv.Output())
	}

	events := hostEvents(t, dir, mac)
	var got []string
	for _, e := range events {
		got = append(got, e.Time.Format("15:04:05.000")+" "+e.Action+" "+e.Detail)
	}
	t.Logf("podboot recorded for %s:\n%s", mac, strings.Join(got, "\n"))
	for _, want := range []string{"dhcp.offer", "http.script", "http.sent file=vmlinuz@", "http.sent file=initrd.img@"} {
		found := false
		for _, e := range events {
			found = found || strings.HasPrefix(e.Action+" "+e.Detail, want)
		}
		if !found {
			t.Errorf("no %q event; podboot recorded:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if last := events[len(events)-1]; last.State != podmgr.StateBooting {
		t.Errorf("host state after stage1 = %s, want booting", last.State)
	}
}

// prepareCentral writes the data dir the central process serves: one pod behind the
// ToR's relay, one host (dynamic lease: the source check goes through LeaseIP), a
// profile booting the kernel and initrd, both in the artifact store.
func prepareCentral(t *testing.T, dir, mac, kernel, initrd string) {
	ctx := context.Background()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mgr, err := podmgr.Open(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	as, err := artifact.Open(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	for _, a := range []struct {
		name, file string
		kind       artifact.Kind
	}{{"vmlinuz", kernel, artifact.KindKernel}, {"initrd.img", initrd, artifact.KindInitrd}} {
		f, err := os.Open(a.file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = as.Ingest(ctx, artifact.Meta{Name: a.name, Version: "1", Kind: a.kind}, f, nil)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	admin := podmgr.Actor{Name: "e2e", Role: podmgr.RoleAdmin}
	if _, _, err := mgr.ApplyProfile(ctx, admin, podmgr.Profile{Name: "stage1", Kernel: "vmlinuz", Initrd: "initrd.img", KernelArgs: "console=ttyS0 quiet"}, true); err != nil {
		t.Fatal(err)
	}
	pod := podmgr.Pod{Name: "pod-a", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, ServerAddress: "198.51.100.10", Profile: "stage1",
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", RangeStart: "192.0.2.100", RangeEnd: "192.0.2.150", LeaseSeconds: 600}}}
	if _, err := mgr.CreatePod(ctx, admin, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.AddHosts(ctx, admin, []podmgr.Host{{MAC: mac, Pod: "pod-a", Hostname: "vm1"}}); err != nil {
		t.Fatal(err)
	}
}

func hostEvents(t *testing.T, dir, mac string) []podmgr.Event {
	ctx := context.Background()
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mgr, err := podmgr.Open(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := mgr.HostEvents(ctx, mac)
	if err != nil || len(evs) == 0 {
		t.Fatalf("host events: %v (%d)", err, len(evs))
	}
	return evs
}

// poweroffInitrd builds a newc cpio (gzip) whose /init is testdata/poweroff, static.
func poweroffInitrd(t *testing.T) string {
	stage := t.TempDir()
	wd, _ := os.Getwd()
	cmd := exec.Command("go", "build", "-o", filepath.Join(stage, "init"), "./testdata/poweroff")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build /init: %v\n%s", err, out)
	}
	testutil.Run(t, stage, "mkdir", "-p", "dev")
	testutil.Run(t, stage, "mknod", "-m", "600", "dev/console", "c", "5", "1")
	img := filepath.Join(t.TempDir(), "initrd.img")
	testutil.Run(t, stage, "sh", "-c", "find . | cpio -o -H newc --quiet | gzip -1 > "+img)
	return img
}
