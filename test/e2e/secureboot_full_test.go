package e2e

import (
	"debug/pe"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/internal/testutil"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The Secure Boot full chain (docs/secure-boot.md): Debian's OVMF variable store
// OVMF_VARS_4M.snakeoil.fd has the snakeoil certificate shipped beside it in PK, KEK
// and db (checked by searching the store for the certificate's DER: it follows the
// variable names db, KEK and PK); it stands in for the operator's enrolled key. Its key
// is encrypted with the passphrase "snakeoil".
const (
	ovmfSnakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	snakeoilCert     = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	snakeoilKey      = "/usr/share/ovmf/PkKek-1-snakeoil.key"
)

const (
	fullMAC      = "52:54:00:e2:e0:06"
	tamperedMAC  = "52:54:00:e2:e0:07"
	unsignedMAC2 = "52:54:00:e2:e0:08"
)

// fullCmdline is the UKI's signed command line: nothing per host.
const fullCmdline = "console=ttyS0 panic=-1 podboot.server=https://198.51.100.10:8443 podboot.token=fetch"

// buildUKI builds the site's stage1 as a UKI with the real CLI; signed with the
// snakeoil key unless unsigned.
func buildUKI(t *testing.T, e *site, name string, signed bool) string {
	t.Helper()
	out := filepath.Join(e.work, name+".efi")
	args := []string{"stage1", "uki", "--kernel", filepath.Join(e.work, "stage1", "vmlinuz"), "--initrd", filepath.Join(e.work, "stage1", "initrd.img"),
		"--cmdline", fullCmdline, "--out", out}
	if signed {
		key := filepath.Join(e.work, "snakeoil.key")
		if _, err := os.Stat(key); err != nil {
			testutil.Run(t, e.work, "openssl", "rsa", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key)
		}
		args = append(args, "--key", key, "--cert", snakeoilCert)
	}
	testutil.Run(t, e.work, append([]string{e.bin}, args...)...)
	return out
}

// applyFullProfile pushes uki as REF:1 and gives host mac a secureBoot: full profile
// booting it.
func applyFullProfile(t *testing.T, e *site, ref, uki, mac, hostname, mgmtIP string) {
	t.Helper()
	e.push(ref+":1", uki, "bootloader")
	prof := filepath.Join(e.work, ref+".yaml")
	os.WriteFile(prof, []byte("name: "+ref+"\nsecureBoot: full\nuki: "+ref+"@1\nstage2: os@1\n"), 0o644)
	e.admin.must("profile", "apply", "-f", prof)
	e.admin.must("host", "add", mac, "--pod", "pod-a", "--hostname", hostname, "--mgmt-ip", mgmtIP, "--profile", ref)
}

// testSecureBootFull provisions a host of a secureBoot: full profile under OVMF with
// Secure Boot on and the snakeoil key enrolled: the firmware loads the signed UKI over
// TFTP and verifies it whole, the agent fetches its token over HTTPS and installs. The
// kernel reports Secure Boot and lockdown.
func testSecureBootFull(t *testing.T, e *site) {
	for _, f := range []string{ovmfSecureCode, ovmfSnakeoilVars, snakeoilCert, snakeoilKey} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v (scripts/deps.sh installs ovmf)", err)
		}
	}
	uki := buildUKI(t, e, "stage1-uki", true)
	applyFullProfile(t, e, "stage1-uki", uki, fullMAC, "node6", "203.0.113.26")
	begin := time.Now()
	v := startSecureOVMFVars(t, e.tor, e.work, "sbf", fullMAC, newDisk(t, e.work, "sbf"), ovmfSnakeoilVars)
	defer logConsoleOnFailure(t, v)
	v.waitExit(t, 6*time.Minute, "the Secure Boot full-chain host to install and power off")
	t.Logf("Secure Boot full-chain install run took %s", time.Since(begin).Round(time.Millisecond))
	con := v.proc.Output()
	for _, want := range []string{"NBP filename is pod-a/" + strings.ReplaceAll(fullMAC, ":", "-") + "/stage1-uki@1",
		"EFI stub: UEFI Secure Boot is enabled", "secureboot: Secure boot enabled", "Kernel is locked down from EFI Secure Boot"} {
		if !strings.Contains(con, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	h := e.admin.host(fullMAC)
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("host: state %s reason %q netboot %v\n%s", h.State, h.StateReason, h.Netboot, con)
	}
	evs := e.admin.events(fullMAC)
	var sent []string
	for _, ev := range evs {
		if ev.Action == "tftp.sent" {
			sent = append(sent, ev.Detail)
		}
	}
	if len(sent) == 0 || !strings.Contains(strings.Join(sent, " "), "stage1-uki@1") || strings.Contains(strings.Join(sent, " "), "stage1-initrd") {
		t.Errorf("files sent over TFTP %v: want the UKI only", sent)
	}
	if !testutil.InOrder(actions(evs), []string{"dhcp.offer", "tftp.sent", "https.params", "agent.booted", "agent.verified", "installed"}) {
		t.Errorf("events %v", actions(evs))
	}
}

// logConsoleOnFailure logs the guest's console when the test failed (a timed-out wait
// included).
func logConsoleOnFailure(t *testing.T, v *vm) {
	if t.Failed() {
		t.Logf("console:\n%s", v.proc.Output())
	}
}

// testSecureBootFullRefused: a signed UKI with one byte of its initrd changed, and an
// unsigned UKI, are refused by the firmware (the console says so); the host gets no
// token, is not provisioned, and its timeline ends at the UKI sent over TFTP.
func testSecureBootFullRefused(t *testing.T, e *site) {
	tampered := buildUKI(t, e, "stage1-uki-tampered", true)
	flipInitrdByte(t, tampered)
	unsigned := buildUKI(t, e, "stage1-uki-unsigned", false)
	for _, tc := range []struct{ ref, file, mac, hostname, ip string }{
		{"stage1-uki-tampered", tampered, tamperedMAC, "node7", "203.0.113.27"},
		{"stage1-uki-unsigned", unsigned, unsignedMAC2, "node8", "203.0.113.28"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			applyFullProfile(t, e, tc.ref, tc.file, tc.mac, tc.hostname, tc.ip)
			v := startSecureOVMFVars(t, e.tor, e.work, tc.hostname, tc.mac, newDisk(t, e.work, tc.hostname), ovmfSnakeoilVars)
			defer logConsoleOnFailure(t, v)
			refused := func() bool {
				con := v.proc.Output()
				return strings.Contains(con, "Access Denied") || strings.Contains(con, "Security Violation") || v.proc.Exited()
			}
			testutil.WaitFor(t, 6*time.Minute, "the firmware to refuse "+tc.ref, refused)
			v.proc.Stop()
			con := v.proc.Output()
			line := ""
			for _, l := range strings.Split(con, "\n") {
				if strings.Contains(l, "Access Denied") || strings.Contains(l, "Security Violation") {
					line = strings.TrimSpace(l)
					break
				}
			}
			if line == "" || strings.Contains(con, "EFI stub:") {
				t.Fatalf("want the firmware's refusal and no kernel start; console:\n%s", con)
			}
			t.Logf("firmware: %s", line)
			h := e.admin.host(tc.mac)
			acts := actions(e.admin.events(tc.mac))
			if h.State == podmgr.StateProvisioned || !h.Netboot || !testutil.InOrder(acts, []string{"dhcp.offer", "tftp.sent"}) ||
				testutil.InOrder(acts, []string{"https.params"}) || testutil.InOrder(acts, []string{"agent.booted"}) {
				t.Fatalf("host after the refused UKI: state %s netboot %v events %v", h.State, h.Netboot, acts)
			}
		})
	}
}

// flipInitrdByte changes one byte in the middle of the .initrd section of a signed UKI.
func flipInitrdByte(t *testing.T, file string) {
	t.Helper()
	f, err := pe.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".initrd")
	f.Close()
	if s == nil {
		t.Fatalf("%s has no .initrd section", file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[s.Offset+s.Size/2] ^= 0x01
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
