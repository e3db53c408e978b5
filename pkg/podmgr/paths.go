package podmgr

import (
	"fmt"
	"strings"
)

// The boot paths are the contract between the DHCP service (which hands them out) and
// the boot service (which serves them). Each carries the pod and the MAC, so TFTP and
// HTTP never guess the host from a source address.

// MACPath is a MAC in path form: lower case, hyphen separated (52-54-00-12-34-56).
func MACPath(mac string) string { return strings.ReplaceAll(mac, ":", "-") }

// MACFromPath turns a path-form MAC back into the normalised form.
func MACFromPath(s string) (string, error) { return NormalizeMAC(s) }

// TFTPBootFile is the TFTP file name DHCP hands to a PXE ROM: POD/MAC/FILE.
func TFTPBootFile(pod, mac, file string) string {
	return pod + "/" + MACPath(mac) + "/" + file
}

// HTTPBootPath is the HTTP path of a host's boot file (UEFI HTTP boot): /boot/POD/MAC/FILE.
func HTTPBootPath(pod, mac, file string) string {
	return "/boot/" + pod + "/" + MACPath(mac) + "/" + file
}

// ScriptPath is the HTTP path of a host's iPXE script: /boot/POD/MAC/script.ipxe.
func ScriptPath(pod, mac string) string { return HTTPBootPath(pod, mac, ScriptName) }

// ScriptName is the file name of the per-host iPXE script.
const ScriptName = "script.ipxe"

// HTTPURL joins the pod's advertised server address, the boot HTTP port and a path.
func HTTPURL(server string, port int, path string) string {
	if port == 80 || port == 0 {
		return fmt.Sprintf("http://%s%s", server, path)
	}
	return fmt.Sprintf("http://%s:%d%s", server, port, path)
}

// HTTPSURL is HTTPURL for the HTTPS listener (agent, chain-load, kickstart).
func HTTPSURL(server string, port int, path string) string {
	if port == 443 || port == 0 {
		return fmt.Sprintf("https://%s%s", server, path)
	}
	return fmt.Sprintf("https://%s:%d%s", server, port, path)
}
