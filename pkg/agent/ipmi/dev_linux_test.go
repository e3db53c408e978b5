//go:build amd64 || arm64

package ipmi

import (
	"testing"
	"unsafe"
)

// TestIoctlLayout: the structures and ioctl numbers match the kernel's on 64-bit
// (struct ipmi_req 40 bytes, struct ipmi_recv 48, IPMICTL_SEND_COMMAND 0x8028690d,
// IPMICTL_RECEIVE_MSG_TRUNC 0xc030690b).
func TestIoctlLayout(t *testing.T) {
	if s := unsafe.Sizeof(ipmiReq{}); s != 40 {
		t.Errorf("ipmi_req %d bytes", s)
	}
	if s := unsafe.Sizeof(ipmiRecv{}); s != 48 {
		t.Errorf("ipmi_recv %d bytes", s)
	}
	if ioctlSendCommand != 0x8028690d || ioctlReceiveMsgTrnc != 0xc030690b {
		t.Errorf("ioctls %#x %#x", ioctlSendCommand, ioctlReceiveMsgTrnc)
	}
}
