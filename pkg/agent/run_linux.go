package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/agent/kickstart"
	"github.com/podboot/podboot/pkg/agent/kmod"
	"github.com/podboot/podboot/pkg/agentproto"
)

// Files and directories inside the initrd (see pkg/stage1).
const (
	RootCAFile = "/etc/podboot/root-ca.pem"
	ModulesDir = "/lib/modules/podboot"
	targetRoot = "/mnt/root"
)

// Main is the agent's entry point as PID 1. It never returns: it ends by rebooting or
// powering off, also after a failure (a failed host stays off until an operator acts).
func Main() {
	var merr error
	if os.Getpid() == 1 {
		merr = mountKernelFS() // first: the log level is on /proc/cmdline
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: logLevel()})).With("component", "podboot-agent")
	if merr != nil {
		log.Error("mount kernel file systems", "err", merr)
	}
	ctx := context.Background()
	how := "poweroff"
	if h, err := run(ctx, log); err != nil {
		log.Error("provisioning stopped", "err", err)
	} else {
		how = h
	}
	if os.Getpid() != 1 {
		return
	}
	log.Info("finishing", "action", how)
	finish(how)
}

// logLevel is debug when the kernel command line says podboot.debug (the driver
// loading trace, for instance), else info.
func logLevel() slog.Level {
	b, _ := os.ReadFile("/proc/cmdline")
	if slices.Contains(strings.Fields(string(b)), "podboot.debug") {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// failure is an error already reported to the server as the host's failure.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }

func run(ctx context.Context, log *slog.Logger) (string, error) {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "", fmt.Errorf("read kernel command line: %w", err)
	}
	p, err := ParseCmdline(string(cmdline))
	if err != nil {
		return "", err
	}
	if !p.Fetch {
		log = log.With("pod", p.Pod, "host", p.MAC)
	}
	caPEM, err := os.ReadFile(RootCAFile)
	if err != nil {
		return "", fmt.Errorf("read pinned root CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return "", fmt.Errorf("pinned root CA %s holds no certificate", RootCAFile)
	}
	wctx, stop := context.WithCancel(ctx) // hotplug loading ends with the run
	defer stop()
	loader, loaded := loadDrivers(wctx, log)

	ectx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	waitEntropy(ectx, log)
	cancel()
	nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nic, err := pickNIC(nctx, p.MAC, log)
	cancel()
	if err != nil {
		diag := pciDiagnosis("/sys", loader, pciClassNetwork, pciClassStorage)
		printDiagnosis("no network interface came up", diag)
		return "", fmt.Errorf("%w; %s", err, strings.Join(diag, "; "))
	}
	nics, _ := ethernetNICs() // pickNIC listed them already
	lldpl := listenLLDP(ctx, log, nics)
	dctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	var link Link
	if p.Static != nil {
		link, err = static(nic, *p.Static)
	} else {
		link, err = dhcp(dctx, nic, log)
	}
	cancel()
	if err != nil {
		return "", err
	}
	if p.Fetch {
		// A Secure Boot full-chain UKI: nothing per host is on the signed command line.
		if p, err = fetchHostParams(ctx, p, roots, link.MAC, log); err != nil {
			return "", err
		}
		log = log.With("pod", p.Pod, "host", p.MAC)
		log.Info("host parameters fetched over HTTPS", "server", p.Server.Host)
	}
	c := NewClient(p, roots, log)
	c.Report(ctx, agentproto.ActionBooted, fmt.Sprintf("stage1 agent up; modules=%d (%s)", len(loaded), strings.Join(loaded, ",")))
	c.Report(ctx, agentproto.ActionNetwork, fmt.Sprintf("nic=%s mac=%s addr=%s gateway=%s dhcp-server=%s static=%t", link.Name, link.MAC, link.Addr, link.Gateway, link.Server, p.Static != nil))

	a := &install{c: c, p: p, roots: roots, log: log, mac: link.MAC, loader: loader, lldp: lldpl}
	how, err := a.run(ctx)
	if err != nil {
		var f failure
		if !errors.As(err, &f) {
			a.fail(ctx, "agent", err)
		}
		return "", err
	}
	return how, nil
}

// loadDrivers loads the drivers the hardware needs, by modalias (see kmod.Loader),
// until no new device has appeared for a moment, and keeps loading for devices that
// appear later until ctx ends. An initrd without an alias table (built before podboot
// had one) gets every shipped module instead.
func loadDrivers(ctx context.Context, log *slog.Logger) (*kmod.Loader, []string) {
	start := time.Now()
	l, err := kmod.OpenLoader(ModulesDir)
	if err != nil {
		log.Warn("no module alias table; loading every shipped module", "err", err)
		loaded, err := kmod.LoadAll(ModulesDir)
		if err != nil {
			log.Warn("module loading incomplete", "loaded", loaded, "err", err)
		}
		log.Info("modules loaded", "modules", strings.Join(loaded, ","), "took", time.Since(start).Round(time.Millisecond))
		return nil, loaded
	}
	ev, err := kmod.ListenUevents()
	if err != nil {
		log.Warn("no kernel uevents; polling sysfs for new devices", "err", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	l.Coldplug(cctx, "/sys", 500*time.Millisecond, ev)
	cancel()
	go l.Watch(ctx, "/sys", 250*time.Millisecond, ev)
	loaded := l.Loaded()
	// Until the hardware settled (last module loaded, last driver bound): the quiet
	// period after it is waiting, not loading.
	took := time.Duration(0)
	if last := l.Settled(); !last.IsZero() {
		took = last.Sub(start)
	}
	tm := l.Timings()
	log.Info("drivers loaded by modalias", "modules", strings.Join(loaded, ","), "devices", len(l.Devices()), "took", took.Round(time.Millisecond),
		"loaded", l.LastLoad().Sub(start).Round(time.Millisecond), "table", tm.Table.Round(time.Millisecond), "scan", tm.Scan.Round(time.Millisecond),
		"match", tm.Match.Round(time.Millisecond), "finit", tm.Finit().Round(time.Millisecond), "rounds", tm.Rounds, "events", tm.Events,
		"slowest", tm.Slowest(3), "kernel_requests", strings.Join(modprobeRequests(), ","))
	log.Debug("driver loading trace", "loads", tm.Trace())
	return l, loaded
}

// printDiagnosis writes a block an operator at the console can read without the log
// format in the way.
func printDiagnosis(what string, lines []string) {
	fmt.Fprintf(os.Stdout, "\n=== podboot stage1: %s ===\n", what)
	if len(lines) == 0 {
		fmt.Fprintln(os.Stdout, "no PCI network or storage controller found")
	}
	for _, l := range lines {
		fmt.Fprintln(os.Stdout, "  "+l)
	}
	fmt.Fprintln(os.Stdout, "=== (build stage1 with the driver: podboot stage1 build --module NAME) ===")
}

type install struct {
	c     *Client
	p     Params
	roots *x509.CertPool
	log   *slog.Logger
	mac   string
	disk  string
	// loader explains missing disks (nil with an initrd without an alias table).
	loader *kmod.Loader
	lldp   *lldpListener
}

// inventory takes the inventory with the LLDP neighbours heard within the window
// (podboot.lldp= overrides it), and stops listening.
func (a *install) inventory(ctx context.Context, window time.Duration) agentproto.Inventory {
	inv := collectInventory("/")
	inv.BMC = readBMC(ctx, a.loader, a.log)
	if a.p.LLDPWait >= 0 {
		window = a.p.LLDPWait
	}
	a.lldp.fill(ctx, &inv, window)
	a.lldp.stop()
	return inv
}

// fail reports the host failed, with the step and the reason.
func (a *install) fail(ctx context.Context, step string, err error) error {
	a.log.Error("install failed", "step", step, "err", err)
	if perr := a.c.Post(ctx, agentproto.FailedPath, agentproto.Failure{Step: step, Reason: err.Error()}); perr != nil {
		a.log.Error("could not report the failure", "err", perr)
	}
	return failure{err}
}

func (a *install) run(ctx context.Context) (string, error) {
	var d agentproto.Chainload
	if err := a.c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil {
		return "", a.fail(ctx, agentproto.ActionChainload, fmt.Errorf("fetch chain-load descriptor: %w", err))
	}
	if d.Inspect {
		return a.inspect(ctx)
	}
	want := a.p.Disk
	if want == "" {
		want = d.TargetDisk
	}
	// Wait for the disk asked for, or for any disk, before taking the inventory.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	disk, err := chooseDisk(cctx, want)
	cancel()
	if err != nil {
		diag := pciDiagnosis("/sys", a.loader, pciClassStorage)
		printDiagnosis("no install disk", diag)
		return "", a.fail(ctx, agentproto.ActionChainload, fmt.Errorf("%w; storage controllers: %s", err, strings.Join(diag, "; ")))
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	settleDisks(sctx, time.Second)
	cancel()
	inv := a.inventory(ctx, 0)
	if err := a.c.Post(ctx, agentproto.InventoryPath, inv); err != nil {
		a.log.Warn("could not report the inventory", "err", err)
	}
	if want == "" {
		hints := agentproto.RootDeviceHints{}
		if d.RootDevice != nil {
			hints = *d.RootDevice
		}
		root, err := chooseRootDisk(inv.Disks, hints)
		if err != nil {
			return "", a.fail(ctx, agentproto.ActionChainload, err)
		}
		disk = root.Name
	}
	a.disk = disk
	dev := "/dev/" + disk
	a.c.Report(ctx, agentproto.ActionChainload, fmt.Sprintf("stage2 %s (%d bytes, sha256 %s) to %s", d.Ref, d.Size, d.SHA256, dev))

	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionChainload, fmt.Errorf("open target disk: %w", err))
	}
	start := time.Now()
	res, err := Stage2(ctx, a.c, d, f, a.roots, time.Now(), a.log)
	f.Close()
	if err != nil {
		if werr := wipe(dev); werr != nil {
			a.log.Error("wipe after refusal failed", "err", werr)
			err = fmt.Errorf("%w (and wiping the disk failed: %v)", err, werr)
		} else {
			err = fmt.Errorf("%w; first %d bytes of %s wiped", err, WipeSize, dev)
		}
		return "", a.fail(ctx, agentproto.ActionVerified, err)
	}
	took := time.Since(start)
	a.c.Report(ctx, agentproto.ActionVerified, fmt.Sprintf("signature good: signer %q, sha256 %s, %d bytes in %s (%.1f MB/s), resumes %d",
		res.Signer, res.SHA256, res.Size, took.Round(time.Millisecond), float64(res.Size)/1e6/took.Seconds(), res.Resumes))

	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	parts, err := rereadPartitions(pctx, disk)
	cancel()
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionKickstart, err)
	}
	raw, err := a.c.GetBytes(ctx, agentproto.KickstartPath, kickstart.MaxSize)
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionKickstart, fmt.Errorf("fetch kickstart: %w", err))
	}
	ks, err := kickstart.Parse(bytes.NewReader(raw))
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionKickstart, err)
	}
	if ks.LiveImg != nil && ks.LiveImg.Checksum != "" && ks.LiveImg.Checksum != res.SHA256 {
		if werr := wipe(dev); werr != nil {
			a.log.Error("wipe failed", "err", werr)
		}
		return "", a.fail(ctx, agentproto.ActionKickstart, fmt.Errorf("kickstart liveimg checksum %s does not match the installed stage2 %s; disk wiped", ks.LiveImg.Checksum, res.SHA256))
	}
	if ks.Disk != "" && ks.Disk != disk {
		ks.Warnings = append(ks.Warnings, kickstart.Warning{Text: fmt.Sprintf("ignoredisk --only-use=%s, but stage2 went to %s (chain-load target)", ks.Disk, disk)})
	}
	if a.loader != nil && a.loader.Table().Has("ext4") {
		// The kernel would ask /sbin/modprobe for fs-ext4 on mount; loading it here
		// makes a failure say why.
		if err := a.loader.Load("ext4"); err != nil {
			a.log.Warn("load ext4", "err", err)
		}
	}
	rootDev, err := mountRoot(parts, targetRoot)
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionKickstart, err)
	}
	pkg, err := a.bashPackage(ctx)
	if err != nil {
		_ = unmount(targetRoot)
		return "", a.fail(ctx, agentproto.ActionKickstart, err)
	}
	in := kickstart.Input{Raw: raw, MAC: a.mac}
	if pkg != nil {
		in.BashPackage = bytes.NewReader(pkg)
	}
	warns, err := kickstart.Apply(targetRoot, ks, in)
	if uerr := unmount(targetRoot); uerr != nil && err == nil {
		err = uerr
	}
	if err != nil {
		return "", a.fail(ctx, agentproto.ActionKickstart, err)
	}
	for _, w := range append(ks.Warnings, warns...) {
		a.c.Report(ctx, agentproto.ActionWarning, "kickstart: "+w.String())
	}
	host := ""
	for _, n := range ks.Networks {
		if n.Hostname != "" {
			host = n.Hostname
		}
	}
	a.c.Report(ctx, agentproto.ActionKickstart, fmt.Sprintf("applied to %s: hostname=%s networks=%d ssh-keys=%d post=%d bash-package=%v warnings=%d",
		rootDev, host, len(ks.Networks), len(ks.SSHKeys), len(ks.Posts), pkg != nil, len(ks.Warnings)+len(warns)))

	if err := a.c.Installed(ctx, agentproto.Installed{Disk: disk, SHA256: res.SHA256, Finish: ks.Finish}); err != nil {
		return "", err
	}
	a.log.Info("installed", "disk", dev, "finish", ks.Finish)
	return ks.Finish, nil
}

// inspect is the discovered host's boot: report the inventory, write nothing, power
// off. An operator accepts the host (podboot host accept) to have it installed.
func (a *install) inspect(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := chooseDisk(cctx, "")
	cancel()
	if err != nil {
		printDiagnosis("no disk (inspection continues)", pciDiagnosis("/sys", a.loader, pciClassStorage))
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	settleDisks(sctx, time.Second)
	cancel()
	if err := a.c.Post(ctx, agentproto.InventoryPath, a.inventory(ctx, DefaultLLDPInspectWait)); err != nil {
		return "", fmt.Errorf("report the inventory: %w", err)
	}
	a.log.Info("inspected: inventory reported, no disk touched; the host waits to be accepted")
	return "poweroff", nil
}

// bashPackage fetches the pod's bash package; nil when the pod has none (204).
func (a *install) bashPackage(ctx context.Context) ([]byte, error) {
	resp, err := a.c.Get(ctx, agentproto.PackagePath, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch bash package: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read bash package: %w", err)
	}
	return b, nil
}
