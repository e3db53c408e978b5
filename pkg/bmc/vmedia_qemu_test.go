package bmc

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/bmc/cred"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/stage1iso"
	"github.com/podboot/podboot/pkg/vmedia"
)

// isoPublisher publishes ISOs with pkg/vmedia at an HTTPS test server, around a fixed
// kernel and initrd.
type isoPublisher struct {
	imgs           *vmedia.Images
	base           string
	pod            podmgr.Pod
	kernel, initrd string
}

func (p *isoPublisher) PublishISO(_ context.Context, h podmgr.Host, token string) (string, error) {
	cmdline, err := vmedia.Cmdline(vmedia.Boot{Pod: p.pod, Host: h, KernelArgs: "console=ttyS0 panic=-1",
		ServerURL: "https://" + p.pod.ServerAddress + ":8443", Token: token})
	if err != nil {
		return "", err
	}
	path, err := p.imgs.Publish(h.MAC, stage1iso.Spec{Kernel: p.kernel, Initrd: p.initrd, Cmdline: cmdline, Loaders: stage1iso.DebianLoaders()}, time.Hour)
	return p.base + path, err
}

func (p *isoPublisher) CheckISO(h podmgr.Host) error {
	_, err := vmedia.Cmdline(vmedia.Boot{Pod: p.pod, Host: h})
	return err
}

func (p *isoPublisher) WithdrawISO(mac string) { p.imgs.Withdraw(mac) }

func (p *isoPublisher) HasISO(mac string) bool { return p.imgs.Published(mac) }

// TestReprovisionVirtualMediaBootsQEMU: `reprovision --via virtual-media` as the service
// runs it, against a real QEMU guest behind the Redfish fixture (actions mapped onto
// QMP): the host's ISO is published at its secret HTTPS URL, inserted, boot once from
// CD, power cycle; the guest boots the ISO's kernel with the host's token and static
// address on its command line; when the host reports provisioned, FinishOnProvisioned
// ejects, clears the override and withdraws the ISO. An IPMI host is refused before anything changes.
func TestReprovisionVirtualMediaBootsQEMU(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := podmgr.OpenBolt(filepath.Join(dir, "podboot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := podmgr.Open(ctx, st, log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cred.Load(filepath.Join(dir, "bmc.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	a := podmgr.Actor{Name: "t", Role: podmgr.RoleAdmin}
	if _, _, err := m.ApplyProfile(ctx, a, podmgr.Profile{Name: "prof"}, true); err != nil {
		t.Fatal(err)
	}
	pod := podmgr.Pod{Name: "p1", Match: []podmgr.MatchRule{{Giaddr: "192.0.2.1"}}, ServerAddress: "198.51.100.10", Profile: "prof",
		Subnets: []podmgr.Subnet{{CIDR: "192.0.2.0/24", Gateway: "192.0.2.1", DNS: []string{"192.0.2.53"}}}}
	if _, err := m.CreatePod(ctx, a, pod); err != nil {
		t.Fatal(err)
	}
	const host, ipmiHost = "52:54:00:00:15:09", "52:54:00:00:15:0a"
	if _, err := m.AddHosts(ctx, a, []podmgr.Host{{MAC: host, Pod: "p1", ProvisioningIP: "192.0.2.50"}, {MAC: ipmiHost, Pod: "p1"}}); err != nil {
		t.Fatal(err)
	}

	initrd := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrd, []byte("no init here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := vmedia.New(filepath.Join(dir, "vmedia"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(imgs)
	t.Cleanup(srv.Close)
	pub := &isoPublisher{imgs: imgs, base: srv.URL, pod: pod, kernel: testutil.DebianCloudVmlinuz(t), initrd: initrd}

	// A powered-on guest with an empty CD drive and nothing to boot (-no-shutdown: off
	// keeps QEMU and its QMP socket).
	sock, serial := filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "serial.log")
	testutil.StartGuestWithoutNetwork(t, sock, serial)

	fx := testutil.StartRedfishBMC(t, "admin", "pw")
	fx.DriveQEMU(sock, "cdrom0", dir)
	svc := NewService(m, keys, log, time.Minute)
	if _, err := svc.Set(ctx, a, host, Settings{Driver: podmgr.BMCRedfish, Address: fx.Host, Port: fx.Port, User: "admin", Password: "pw", CACert: fx.CACert}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Set(ctx, a, ipmiHost, Settings{Driver: podmgr.BMCIPMI, Address: "127.0.0.1", User: "admin", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Registry().Host(ipmiHost)
	if _, err := svc.ReprovisionVirtualMedia(ctx, a, ipmiHost, pub, nil); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("virtual media through IPMI: %v, want refused with nothing changed", err)
	}
	if after, _ := m.Registry().Host(ipmiHost); after.State != before.State || after.TokenHash != "" {
		t.Fatalf("a refused reprovision changed the host: %+v", after)
	}

	h, err := svc.ReprovisionVirtualMedia(ctx, a, host, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Netboot {
		t.Fatal("netboot is off after the reprovision")
	}
	testutil.WaitFor(t, 4*time.Minute, "the guest to boot the ISO's kernel", func() bool {
		b, _ := os.ReadFile(serial)
		return bytes.Contains(b, []byte("podboot.ip=192.0.2.50/24"))
	})
	b, _ := os.ReadFile(serial)
	for _, want := range []string{"podboot.token=pbh_", "podboot.gw=192.0.2.1", "podboot.mac=" + host} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the guest's command line lacks %q", want)
		}
	}
	// The agent's `installed`: the host moves to provisioned and the media comes out.
	wctx, cancel := context.WithCancel(ctx)
	wait := svc.FinishOnProvisioned(wctx, pub)
	t.Cleanup(func() { cancel(); wait() })
	if _, err := m.RecordHostEvent(ctx, host, "agent", "installed", "test", podmgr.HostUpdate{State: podmgr.StateProvisioned}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, time.Minute, "the media ejected and the override cleared", func() bool { return !pub.HasISO(host) })
	acts := fx.Actions()
	// The mockup's CD1 starts with a medium in it: the driver ejects it first.
	want := []string{"EjectMedia CD1", "InsertMedia CD1 ", "Boot Cd Once Legacy", "Reset ForceOff", "Reset On", "EjectMedia CD1", "Boot  Disabled "}
	if len(acts) != len(want) || !strings.HasPrefix(acts[1], want[1]+srv.URL+"/vmedia/") {
		t.Fatalf("BMC saw %v, want %v", acts, want)
	}
	acts[1] = want[1]
	if !slices.Equal(acts, want) {
		t.Fatalf("BMC saw %v, want %v", acts, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "vmedia", "*.iso")); len(left) != 0 {
		t.Fatalf("the ISO was not withdrawn: %v", left)
	}
	events, err := m.HostEvents(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, e := range events {
		evs = append(evs, e.Action)
	}
	for _, want := range []string{"bmc.media.insert", "bmc.boot-device", "bmc.power.cycle", "bmc.media.eject", "bmc.boot-override.clear"} {
		if !slices.Contains(evs, want) {
			t.Errorf("host events %v lack %s", evs, want)
		}
	}
}
