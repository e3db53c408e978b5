package dhcprelay

import (
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// TestHTTPSBootURL: a UEFI HTTP Boot client of a profile with httpsBoot gets the boot
// HTTPS listener's https:// URL; without it, and for PXE clients, nothing changes.
func TestHTTPSBootURL(t *testing.T) {
	pc := &podmgr.PodContext{Pod: podmgr.Pod{Name: "pod-a"}, ServerAddr: netip.MustParseAddr("198.51.100.10")}
	h := podmgr.Host{MAC: "52:54:00:00:00:01", Pod: "pod-a"}
	httpClient := clientInfo{vendorClass: "HTTPClient:Arch:00016:UNDI:003001", hasArch: true, arch: iana.EFI_X86_64_HTTP}
	pxeClient := clientInfo{vendorClass: "PXEClient:Arch:00007:UNDI:003000", hasArch: true, arch: iana.EFI_X86_64}
	for _, tc := range []struct {
		name  string
		https bool
		ci    clientInfo
		want  string
	}{
		{"http boot, httpsBoot", true, httpClient, "https://198.51.100.10:8443/boot/pod-a/52-54-00-00-00-01/ipxe.efi"},
		{"http boot", false, httpClient, "http://198.51.100.10:8080/boot/pod-a/52-54-00-00-00-01/ipxe.efi"},
		{"pxe, httpsBoot", true, pxeClient, "pod-a/52-54-00-00-00-01/ipxe.efi"},
	} {
		bp := chooseBoot(pc, h, podmgr.Profile{Name: "p", HTTPSBoot: tc.https}, tc.ci, 8080, 8443)
		if bp.file != tc.want {
			t.Errorf("%s: boot file %q, want %q", tc.name, bp.file, tc.want)
		}
	}
}
