package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// secureBootMAC boots under Secure Boot with Microsoft's keys (the distro chain).
const secureBootMAC = "52:54:00:e2:e0:04"

// Debian's Secure Boot OVMF: the secboot code image (SMM) and the variable store with
// Microsoft's KEK and db enrolled and Secure Boot on; shim and grubnetx64 signed for it
// (packages ovmf, shim-signed, grub-efi-amd64-signed).
const (
	ovmfSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfMSVars     = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
	signedShim     = "/usr/lib/shim/shimx64.efi.signed"
	signedGrubNet  = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
)

// pushSignedChain pushes Debian's signed shim and grubnetx64 once per site.
func pushSignedChain(t *testing.T, e *site) {
	t.Helper()
	if e.signedChain {
		return
	}
	for _, f := range []string{ovmfSecureCode, ovmfMSVars, signedShim, signedGrubNet} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v (scripts/deps.sh installs ovmf, shim-signed, grub-efi-amd64-signed)", err)
		}
	}
	shim, grub := filepath.Join(e.work, podmgr.ShimName), filepath.Join(e.work, podmgr.GrubName)
	testutil.Run(t, e.work, "cp", signedShim, shim)
	testutil.Run(t, e.work, "cp", signedGrubNet, grub)
	e.push(podmgr.ShimName+":1", shim, "bootloader")
	e.push(podmgr.GrubName+":1", grub, "bootloader")
	e.signedChain = true
}

// startSecureOVMF runs OVMF with Secure Boot on (Microsoft keys), UEFI PXE first.
func startSecureOVMF(t *testing.T, tor *testutil.ToR, dir, name, mac, disk string) *vm {
	t.Helper()
	return startSecureOVMFVars(t, tor, dir, name, mac, disk, ovmfMSVars)
}

// startSecureOVMFVars is startSecureOVMF with the keys of the variable store template
// varsTemplate (copied for the guest).
func startSecureOVMFVars(t *testing.T, tor *testutil.ToR, dir, name, mac, disk, varsTemplate string) *vm {
	t.Helper()
	vars := filepath.Join(dir, name+"-vars.fd")
	testutil.Run(t, dir, "cp", varsTemplate, vars)
	tap := testutil.GuestTap(t, tor, name)
	p := tor.Start(nil, "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35,smm=on", "-m", "768", "-nographic", "-no-reboot", "-vga", "none",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfSecureCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac="+mac+",romfile=,bootindex=1",
		"-drive", "file="+disk+",format=raw,if=virtio",
		"-device", "virtio-rng-pci")
	return &vm{proc: p, disk: disk}
}

// testSecureBootDistro provisions a host whose profile says secureBoot: distro, under
// OVMF with Secure Boot on and only Microsoft's keys: shim and grub over TFTP from
// POD/MAC/, the global grub/grub.cfg, the per-host grub.cfg, the Debian-signed kernel
// and the initrd over TFTP. The kernel reports Secure Boot and lockdown; the timeline
// records that the initrd was not authenticated.
func testSecureBootDistro(t *testing.T, e *site) {
	pushSignedChain(t, e)
	e.applyProfile("e2e-sb", profileYAML("e2e-sb", "os@1", "secureBoot: distro\n"))
	e.admin.must("host", "add", secureBootMAC, "--pod", "pod-a", "--hostname", "node4", "--mgmt-ip", "203.0.113.24", "--profile", "e2e-sb")

	disk := newDisk(t, e.work, "sb")
	begin := time.Now()
	v := startSecureOVMF(t, e.tor, e.work, "sb", secureBootMAC, disk)
	v.waitExit(t, 6*time.Minute, "the Secure Boot host to install and power off")
	t.Logf("Secure Boot distro install run took %s", time.Since(begin).Round(time.Millisecond))
	con := v.proc.Output()
	for _, want := range []string{"NBP filename is pod-a/" + strings.ReplaceAll(secureBootMAC, ":", "-") + "/shimx64.efi",
		"(Secure Boot: distro", "EFI stub: UEFI Secure Boot is enabled", "secureboot: Secure boot enabled", "Kernel is locked down from EFI Secure Boot"} {
		if !strings.Contains(con, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	h := e.admin.host(secureBootMAC)
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("host: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, con)
	}
	evs := e.admin.events(secureBootMAC)
	var sent []string
	var initrdNoted bool
	for _, ev := range evs {
		if ev.Action == "tftp.sent" {
			f, _, _ := strings.Cut(strings.TrimPrefix(ev.Detail, "file="), "@")
			sent = append(sent, f)
		}
		initrdNoted = initrdNoted || ev.Action == "tftp.grubcfg" && strings.Contains(ev.Detail, "initrd is NOT authenticated")
	}
	if !testutil.InOrder(sent, []string{podmgr.ShimName, podmgr.GrubName, "stage1-kernel", "stage1-initrd"}) {
		t.Errorf("files sent over TFTP %v", sent)
	}
	if !initrdNoted {
		t.Errorf("no timeline event says the initrd was not authenticated: %v", actions(evs))
	}
	if !testutil.InOrder(actions(evs), []string{"dhcp.offer", "tftp.grubcfg", "agent.booted", "agent.verified", "installed"}) {
		t.Errorf("events %v", actions(evs))
	}
	if t.Failed() {
		t.Logf("console:\n%s", con)
	}
}

// unsignedMAC boots under Secure Boot a profile whose kernel lost its signature.
const unsignedMAC = "52:54:00:e2:e0:05"

// testSecureBootUnsignedKernel: the same distro chain with the stage1 kernel's
// signature removed (sbattach --remove): grub refuses it through shim, nothing boots,
// and the host is not provisioned.
func testSecureBootUnsignedKernel(t *testing.T, e *site) {
	pushSignedChain(t, e)
	unsigned := filepath.Join(e.work, "unsigned-vmlinuz")
	testutil.Run(t, e.work, "cp", filepath.Join(e.work, "stage1", "vmlinuz"), unsigned)
	testutil.Run(t, e.work, "sbattach", "--remove", unsigned)
	e.push("unsigned-kernel:1", unsigned, "kernel")
	e.applyProfile("e2e-sb-unsigned", strings.Replace(profileYAML("e2e-sb-unsigned", "os@1", "secureBoot: distro\n"), "stage1-kernel@1", "unsigned-kernel@1", 1))
	e.admin.must("host", "add", unsignedMAC, "--pod", "pod-a", "--hostname", "node5", "--mgmt-ip", "203.0.113.25", "--profile", "e2e-sb-unsigned")
	v := startSecureOVMF(t, e.tor, e.work, "sbu", unsignedMAC, newDisk(t, e.work, "sbu"))
	testutil.WaitFor(t, 4*time.Minute, "grub to refuse the unsigned kernel", func() bool {
		return strings.Contains(v.proc.Output(), "bad shim signature") || v.proc.Exited()
	})
	v.proc.Stop()
	con := v.proc.Output()
	if !strings.Contains(con, "bad shim signature") || strings.Contains(con, "EFI stub:") {
		t.Fatalf("want grub's \"bad shim signature\" and no kernel start; console:\n%s", con)
	}
	h := e.admin.host(unsignedMAC)
	acts := actions(e.admin.events(unsignedMAC))
	if h.State == podmgr.StateProvisioned || !h.Netboot || testutil.InOrder(acts, []string{"agent.booted"}) || !testutil.InOrder(acts, []string{"tftp.grubcfg", "tftp.sent"}) {
		t.Fatalf("host after the refused kernel: state %s netboot %v events %v", h.State, h.Netboot, acts)
	}
}
