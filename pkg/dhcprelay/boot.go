package dhcprelay

import (
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/podboot/podboot/pkg/podmgr"
)

// bootKind is how a client is told about its boot program.
type bootKind uint8

const (
	bootNone bootKind = iota // address only (netboot off, plain client, lease policy)
	bootTFTP                 // PXE ROM: TFTP file name, next-server, options 66/67
	bootIPXE                 // iPXE: the per-host script URL
	bootHTTP                 // UEFI HTTP boot: an HTTP URL and option 60 HTTPClient
)

// bootProgram is the boot part of a reply.
type bootProgram struct {
	kind bootKind
	// file is the TFTP file name or the URL.
	file string
	// server is the next-server (siaddr, option 66).
	server netip.Addr
	// vendorClass is echoed in option 60 ("PXEClient" or "HTTPClient").
	vendorClass string
}

// firmwareOf maps option 93 to a boot file kind; arch 0 (or none) is BIOS.
func firmwareOf(ci clientInfo) podmgr.Firmware {
	if !ci.hasArch {
		return podmgr.FirmwareBIOS
	}
	switch ci.arch {
	case iana.INTEL_X86PC:
		return podmgr.FirmwareBIOS
	case iana.EFI_IA32, iana.EFI_BC, iana.EFI_X86_64, iana.EFI_X86_64_HTTP, iana.EFI_X86_HTTP:
		return podmgr.FirmwareEFIx64
	case iana.EFI_ARM64, iana.EFI_ARM64_HTTP:
		return podmgr.FirmwareEFIARM64
	}
	return podmgr.FirmwareUnknown
}

func httpBootClient(ci clientInfo) bool {
	if strings.HasPrefix(ci.vendorClass, "HTTPClient") {
		return true
	}
	return ci.hasArch && (ci.arch == iana.EFI_X86_64_HTTP || ci.arch == iana.EFI_ARM64_HTTP || ci.arch == iana.EFI_X86_HTTP)
}

// chooseBoot decides the boot program of a host that may netboot. A client that does not
// ask for one (no PXE vendor class, architecture or iPXE marker) gets none.
func chooseBoot(pc *podmgr.PodContext, h podmgr.Host, prof podmgr.Profile, ci clientInfo, httpPort, httpsPort int) bootProgram {
	if !ci.pxe() {
		return bootProgram{}
	}
	pod, server := pc.Pod.Name, pc.ServerAddr
	switch {
	case ci.ipxe:
		return bootProgram{kind: bootIPXE, server: server,
			file: podmgr.HTTPURL(server.String(), httpPort, podmgr.ScriptPath(pod, h.MAC))}
	case httpBootClient(ci):
		fw := firmwareOf(ci)
		f := podmgr.BootFile(h, prof, fw)
		if f == "" {
			return bootProgram{}
		}
		url := podmgr.HTTPURL(server.String(), httpPort, podmgr.HTTPBootPath(pod, h.MAC, f))
		if prof.HTTPSBoot {
			url = podmgr.HTTPSURL(server.String(), httpsPort, podmgr.HTTPBootPath(pod, h.MAC, f))
		}
		return bootProgram{kind: bootHTTP, server: server, vendorClass: "HTTPClient", file: url}
	}
	fw := firmwareOf(ci)
	f := podmgr.BootFile(h, prof, fw)
	if f == "" {
		return bootProgram{}
	}
	bp := bootProgram{kind: bootTFTP, server: server, file: podmgr.TFTPBootFile(pod, h.MAC, f)}
	if strings.HasPrefix(ci.vendorClass, "PXEClient") {
		bp.vendorClass = "PXEClient"
	}
	return bp
}
