package ipmi

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's IPMI device interface (include/uapi/linux/ipmi.h), amd64/arm64 layout.
type sysIfaceAddr struct {
	addrType int32
	channel  int16
	lun      uint8
	_        uint8
}

type ipmiMsg struct {
	netfn   uint8
	cmd     uint8
	dataLen uint16
	_       uint32
	data    *byte
}

type ipmiReq struct {
	addr    *byte
	addrLen uint32
	_       uint32
	msgid   int64
	msg     ipmiMsg
}

type ipmiRecv struct {
	recvType int32
	_        uint32
	addr     *byte
	addrLen  uint32
	_        uint32
	msgid    int64
	msg      ipmiMsg
}

const (
	systemInterfaceAddrType = 0x0c
	bmcChannel              = 0x0f
	// _IOR('i', 13, struct ipmi_req) and _IOWR('i', 11, struct ipmi_recv).
	ioctlSendCommand    = 2<<30 | uint(unsafe.Sizeof(ipmiReq{}))<<16 | 'i'<<8 | 13
	ioctlReceiveMsgTrnc = 3<<30 | uint(unsafe.Sizeof(ipmiRecv{}))<<16 | 'i'<<8 | 11
)

// Device is an open /dev/ipmiN.
type Device struct{ f *os.File }

// Open opens the IPMI device (the agent loads ipmi_si and ipmi_devintf first).
func Open(path string) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &Device{f: f}, nil
}

// Close closes the device.
func (d *Device) Close() error { return d.f.Close() }

// Command sends one request to the BMC and waits (up to timeout) for its response:
// the completion code and the data.
func (d *Device) Command(netfn, cmd byte, data []byte, timeout time.Duration) ([]byte, error) {
	addr := &sysIfaceAddr{addrType: systemInterfaceAddrType, channel: bmcChannel}
	req := &ipmiReq{addr: (*byte)(unsafe.Pointer(addr)), addrLen: uint32(unsafe.Sizeof(*addr)), msgid: 1,
		msg: ipmiMsg{netfn: netfn, cmd: cmd, dataLen: uint16(len(data))}}
	if len(data) > 0 {
		req.msg.data = &data[0]
	}
	fd := int(d.f.Fd())
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(ioctlSendCommand), uintptr(unsafe.Pointer(req))); errno != 0 {
		return nil, fmt.Errorf("IPMI send netfn 0x%02x cmd 0x%02x: %w", netfn, cmd, errno)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, int(timeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("IPMI wait: %w", err)
	}
	if n == 0 {
		return nil, errors.New("IPMI: no response from the BMC")
	}
	buf := make([]byte, 256)
	raddr := &sysIfaceAddr{}
	recv := &ipmiRecv{addr: (*byte)(unsafe.Pointer(raddr)), addrLen: uint32(unsafe.Sizeof(*raddr)),
		msg: ipmiMsg{data: &buf[0], dataLen: uint16(len(buf))}}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(ioctlReceiveMsgTrnc), uintptr(unsafe.Pointer(recv)))
	// The kernel wrote through the pointers inside req and recv: keep what they point to.
	runtime.KeepAlive(req)
	runtime.KeepAlive(addr)
	runtime.KeepAlive(data)
	runtime.KeepAlive(raddr)
	if errno != 0 && errno != unix.EMSGSIZE {
		return nil, fmt.Errorf("IPMI receive: %w", errno)
	}
	return buf[:min(int(recv.msg.dataLen), len(buf))], nil
}

// QueryLAN reads the LAN configuration of the first LAN channel (1 to 11) that has an
// address. ok is false when none has. A BMC that does not answer ends it at once.
func (d *Device) QueryLAN(timeout time.Duration) (LAN, bool, error) {
	for ch := 1; ch <= 11; ch++ {
		l := LAN{Channel: ch}
		var err error
		for _, p := range LANParams() {
			var resp []byte
			if resp, err = d.Command(NetFnTransport, CmdGetLANConfig, LANRequest(byte(ch), p), timeout); err == nil {
				err = l.SetLANParam(p, resp)
			}
			if err != nil {
				break
			}
		}
		if err == nil && l.Configured() {
			return l, true, nil
		}
		if err != nil && !errors.Is(err, ErrCompletion) {
			return LAN{}, false, err // a transport problem, not "not a LAN channel"
		}
	}
	return LAN{}, false, nil
}
