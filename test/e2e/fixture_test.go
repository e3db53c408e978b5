package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// stage2Image makes a small stage2 disk image (12 MiB ext4 root at 1 MiB) whose
// /etc/motd is motd, as a CI pipeline would build an OS image.
func stage2Image(t *testing.T, dir, name, motd string) string {
	t.Helper()
	return testutil.Stage2Image(t, dir, name, 12, map[string][]byte{
		"etc/passwd":   []byte("root:x:0:0:root:/root:/bin/sh\n"),
		"etc/shadow":   []byte("root:*:19000:0:99999:7:::\n"),
		"etc/hostname": []byte("stage2-template\n"),
		"etc/motd":     []byte(motd + "\n"),
		"root/":        nil,
	})
}

// cli runs the podboot CLI inside the central namespace (where the API listens).
type cli struct {
	t       *testing.T
	ns      *testutil.NS
	bin     string
	server  string
	token   string
	caCert  string
	dataDir string
}

func (c *cli) run(ctx context.Context, args ...string) (string, string, error) {
	full := append([]string{c.bin, "--server", c.server, "--token", c.token, "--ca-cert", c.caCert}, args...)
	cmd := c.ns.Cmd(ctx, full...)
	cmd.Env = append(os.Environ(), "PODBOOT_DATA_DIR="+c.dataDir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errs, err := c.run(ctx, args...)
	if err != nil {
		c.t.Fatalf("podboot %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

func (c *cli) with(token string) *cli {
	cc := *c
	cc.token = token
	return &cc
}

func (c *cli) host(mac string) podmgr.Host {
	c.t.Helper()
	var h podmgr.Host
	if err := json.Unmarshal([]byte(c.must("host", "show", mac, "-o", "json")), &h); err != nil {
		c.t.Fatal(err)
	}
	return h
}

func (c *cli) events(mac string) []podmgr.Event {
	c.t.Helper()
	var evs []podmgr.Event
	if err := json.Unmarshal([]byte(c.must("host", "events", mac, "-o", "json")), &evs); err != nil {
		c.t.Fatal(err)
	}
	return evs
}

func actions(evs []podmgr.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

// vm is a QEMU guest on a tap in the ToR's rack bridge, with Debian's iPXE ROM.
type vm struct {
	proc *testutil.Proc
	disk string
}

func startVM(t *testing.T, tor *testutil.ToR, name, mac, disk string) *vm {
	t.Helper()
	return &vm{proc: testutil.StartGuest(t, tor, name, mac, disk), disk: disk}
}

// startVMWith starts a guest whose NIC is the QEMU device nic (on netdev n0, the tap)
// and whose storage is given by the extra QEMU arguments.
func startVMWith(t *testing.T, tor *testutil.ToR, name, disk, nic string, storage ...string) *vm {
	t.Helper()
	return &vm{proc: testutil.StartGuestWith(t, tor, name, nic, storage...), disk: disk}
}

// waitExit waits for the guest to power off (QEMU exits with -no-reboot).
func (v *vm) waitExit(t *testing.T, timeout time.Duration, what string) {
	t.Helper()
	testutil.WaitFor(t, timeout, what, v.proc.Exited)
}

// newDisk makes the VM's disk: 64 MiB whose first MiB is 0xAA, so a wipe is visible.
func newDisk(t *testing.T, dir, name string) string {
	t.Helper()
	return testutil.NewMarkedDisk(t, filepath.Join(dir, name+"-disk.img"), 64)
}

// debugfsCat reads a file from the ext4 partition at 1 MiB of a disk image.
func debugfsCat(t *testing.T, dir, disk, path string) string {
	t.Helper()
	part := filepath.Join(dir, "part.img")
	testutil.Run(t, dir, "dd", "if="+disk, "of="+part, "bs=1M", "skip=1", "count=12", "status=none")
	cmd := exec.Command("debugfs", "-R", "cat "+path, part)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs cat %s: %v\n%s", path, err, errb.String())
	}
	return out.String()
}

// podEnv is what every end-to-end test starts from: podboot serve in a central
// namespace, a ToR with the rack bridge 192.0.2.0/24 routed over a WAN link (a veth, or
// an emulated WAN), an admin and a ci CLI, and a stage1 built from Debian's generic
// kernel, signed and pushed as stage1-kernel@1 and stage1-initrd@1. The relay is not
// started (tests register their hosts first).
type podEnv struct {
	src, bin, data, work, pki string
	central                   *testutil.NS
	tor                       *testutil.ToR
	wan                       *testutil.WAN // nil without an emulated WAN
	admin, ci                 *cli
}

// site is a podEnv with everything a CI pipeline and an operator set up before hosts
// boot: the stage2 images os@1 (good) and os@2 (to be tampered with), the bootloaders,
// the profiles e2e and e2e-bad, pod-a, and the relay running. Hosts are added by each
// test.
type site struct {
	*podEnv
	signedChain bool // shim and grub pushed (secureboot_test.go)
}

func newPodEnv(t *testing.T, wan *testutil.WANConfig) *podEnv {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := &podEnv{src: src, bin: testutil.BuildPodboot(t), data: t.TempDir(), work: t.TempDir()}
	deb := testutil.DebianGenericKernelDeb(t)

	tp := testutil.NewTopology(t)
	e.central = tp.Central("198.51.100.10/24")
	if wan == nil {
		e.tor = tp.ToR(e.central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10")
	} else {
		e.tor, e.wan = tp.ToROverWAN(e.central, "a", "198.51.100.2/24", "192.0.2.1/24", "198.51.100.10", *wan)
	}
	e.tor.RouteRack("192.0.2.0/24")
	// No api.names: the pod gets its certificate for 198.51.100.10 on demand.
	serve := e.central.Start([]string{"PODBOOT_DHCP_ADDR=:67", "PODBOOT_TFTP_ADDR=:69", "PODBOOT_HTTP_ADDR=:8080", "PODBOOT_HTTPS_ADDR=:8443"},
		e.bin, "serve", "--data-dir", e.data, "--api-addr", "127.0.0.1:9443")
	testutil.WaitFor(t, 30*time.Second, "podboot to serve", func() bool {
		if serve.Exited() {
			t.Fatalf("podboot serve exited:\n%s", serve.Output())
		}
		return strings.Contains(serve.Output(), "podboot serving")
	})
	adminTok, _ := os.ReadFile(filepath.Join(e.data, "admin.token"))
	e.pki = filepath.Join(e.data, "pki")
	e.admin = &cli{t: t, ns: e.central, bin: e.bin, server: "https://127.0.0.1:9443", token: strings.TrimSpace(string(adminTok)), caCert: filepath.Join(e.pki, "ca.pem"), dataDir: e.data}

	// CI side: a signer certificate, a ci token granted every kind (this CI builds stage1
	// and the bootloader too), signed images pushed.
	testutil.Run(t, e.work, e.bin, "ca", "issue", "--code-signing", "ci", "--dir", e.pki, "--out", e.work)
	e.ci = e.admin.with(strings.TrimSpace(e.admin.must("token", "create", "ci-pipeline", "--role", "ci", "--allow-kind", "stage2,kernel,initrd,package,bootloader")))
	out := testutil.Run(t, src, e.bin, "stage1", "build", "--modules-deb", deb, "--root-ca", filepath.Join(e.pki, "ca.pem"), "--out", filepath.Join(e.work, "stage1"), "--src", src)
	t.Logf("stage1 build:\n%s", out)
	e.push("stage1-kernel:1", filepath.Join(e.work, "stage1", "vmlinuz"), "kernel")
	e.push("stage1-initrd:1", filepath.Join(e.work, "stage1", "initrd.img"), "initrd")
	return e
}

// push signs a file with the CI certificate and pushes it with the ci token.
func (e *podEnv) push(ref, file, kind string) {
	e.admin.t.Helper()
	testutil.Run(e.admin.t, e.work, e.bin, "image", "sign", "--cert", filepath.Join(e.work, "ci.pem"), "--key", filepath.Join(e.work, "ci.key"), file, "-o", file+".p7s")
	e.ci.must("image", "push", ref, file, "--sig", file+".p7s", "--kind", kind)
}

// applyProfile applies a profile definition (written to the work dir as NAME.yaml).
func (e *podEnv) applyProfile(name, yaml string) {
	f := filepath.Join(e.work, name+".yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		e.admin.t.Fatal(err)
	}
	e.admin.must("profile", "apply", "-f", f)
}

// applyPod applies a pod definition.
func (e *podEnv) applyPod(yaml string) {
	f := filepath.Join(e.work, "pod.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		e.admin.t.Fatal(err)
	}
	e.admin.must("pod", "apply", "-f", f)
}

func newSite(t *testing.T, wan *testutil.WANConfig) *site {
	t.Helper()
	e := newPodEnv(t, wan)
	good := stage2Image(t, e.work, "good", "good image")
	bad := stage2Image(t, e.work, "bad", "image to be tampered with")
	e.push("os:1", good, "stage2")
	e.push("os:2", bad, "stage2")

	// Operator side: profiles and the pod (provisioning and management networks differ).
	pkg := filepath.Join(e.work, "bash-package.tgz")
	testutil.Run(t, e.src, "tar", "-C", filepath.Join(e.src, "artifacts", "bash", "example"), "-czf", pkg, ".")
	e.push("bash-example:1", pkg, "package")
	// The BIOS bootloader the profile names by default: only for the TFTP gate check
	// (QEMU's own iPXE ROM boots the VMs).
	kpxe := filepath.Join(e.work, "undionly.kpxe")
	testutil.Run(t, e.work, "cp", "/usr/lib/ipxe/undionly.kpxe", kpxe)
	e.push("undionly.kpxe:1", kpxe, "bootloader")
	// The EFI loader of UEFI HTTP Boot (the profile's default efiX64 name).
	efi := filepath.Join(e.work, "ipxe.efi")
	testutil.Run(t, e.work, "cp", "/usr/lib/ipxe/ipxe.efi", efi)
	e.push("ipxe.efi:1", efi, "bootloader")
	for name, body := range map[string]string{"e2e": profileYAML("e2e", "os@1", customKickstart(t, e.src)), "e2e-bad": profileYAML("e2e-bad", "os@2", "")} {
		f := filepath.Join(e.work, name+".yaml")
		os.WriteFile(f, []byte(body), 0o644)
		e.admin.must("profile", "apply", "-f", f)
	}
	e.applyPod(podYAML)
	e.tor.StartRelay("198.51.100.10")
	e.tor.StartRouterAdvertisements()
	return &site{podEnv: e}
}
