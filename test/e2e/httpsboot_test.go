package e2e

import (
	"encoding/binary"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// httpsBootMAC boots with UEFI HTTP Boot from an https:// URL (profile httpsBoot).
const httpsBootMAC = "52:54:00:e2:e0:09"

// edk2CACerts writes the PEM certificates of pemFile as an EFI_SIGNATURE_LIST per
// certificate (type EFI_CERT_X509_GUID), the format OVMF reads from the fw_cfg file
// etc/edk2/https/cacerts into its TLS CA store (what `p11-kit extract
// --format=edk2-cacerts` writes).
func edk2CACerts(t *testing.T, pemFile, out string) {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	// EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072, mixed-endian as in memory.
	x509GUID := []byte{0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72}
	owner := make([]byte, 16) // SignatureOwner: any GUID
	var list []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		sigSize := 16 + len(blk.Bytes)
		hdr := make([]byte, 28)
		copy(hdr, x509GUID)
		binary.LittleEndian.PutUint32(hdr[16:], uint32(28+sigSize)) // SignatureListSize
		binary.LittleEndian.PutUint32(hdr[20:], 0)                  // SignatureHeaderSize
		binary.LittleEndian.PutUint32(hdr[24:], uint32(sigSize))    // SignatureSize
		list = append(append(append(list, hdr...), owner...), blk.Bytes...)
	}
	if len(list) == 0 {
		t.Fatalf("%s holds no certificate", pemFile)
	}
	if err := os.WriteFile(out, list, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testUEFIHTTPSBoot provisions a host of a profile with httpsBoot: true under OVMF
// (Secure Boot off) that has podboot's root CA enrolled for HTTPS boot through fw_cfg:
// the DHCP answer carries https://SERVER:8443/…/ipxe.efi, the firmware fetches it over
// TLS verified against the CA, and the host is provisioned.
func testUEFIHTTPSBoot(t *testing.T, e *site) {
	e.applyProfile("e2e-https", profileYAML("e2e-https", "os@1", "httpsBoot: true\n"))
	e.admin.must("host", "add", httpsBootMAC, "--pod", "pod-a", "--hostname", "node9", "--mgmt-ip", "203.0.113.29", "--profile", "e2e-https")
	cacerts := filepath.Join(e.work, "edk2-cacerts.bin")
	edk2CACerts(t, filepath.Join(e.pki, "ca.pem"), cacerts)
	begin := time.Now()
	v := startOVMFWith(t, e.tor, e.work, "https", httpsBootMAC, newDisk(t, e.work, "https"),
		"-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=no",
		"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=no",
		"-fw_cfg", "name=etc/edk2/https/cacerts,file="+cacerts)
	defer logConsoleOnFailure(t, v)
	v.waitExit(t, 6*time.Minute, "the UEFI HTTPS Boot host to install and power off")
	t.Logf("UEFI HTTPS Boot install run took %s", time.Since(begin).Round(time.Millisecond))
	con := v.proc.Output()
	url := "https://198.51.100.10:8443/boot/pod-a/" + strings.ReplaceAll(httpsBootMAC, ":", "-") + "/ipxe.efi"
	for _, want := range []string{">>Start HTTP Boot over IPv4", "URI: " + url, "iPXE initialising devices"} {
		if !strings.Contains(con, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	h := e.admin.host(httpsBootMAC)
	if h.State != podmgr.StateProvisioned || h.Netboot {
		t.Fatalf("host: state %s reason %q netboot %v", h.State, h.StateReason, h.Netboot)
	}
	var loader bool
	for _, ev := range e.admin.events(httpsBootMAC) {
		loader = loader || ev.Action == "http.sent" && strings.HasPrefix(ev.Detail, "file=ipxe.efi@1 ")
	}
	if !loader {
		t.Errorf("no http.sent event for ipxe.efi: %v", actions(e.admin.events(httpsBootMAC)))
	}
}
