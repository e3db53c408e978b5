package kmod

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Uevents delivers the kernel's device events as they happen: the loader reacts to a
// new device at once instead of rescanning sysfs on a timer.
type Uevents struct {
	C    <-chan Uevent
	done chan struct{}
	once sync.Once
}

// ListenUevents subscribes to the kernel's uevents (netlink group 1; there is no udev
// in the initrd to relay them). Events that arrive before C is read are queued in the
// socket, so subscribe before the first sysfs scan and nothing falls between the two.
func ListenUevents() (*Uevents, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent socket: %w", err)
	}
	// A coldplug brings a burst of events; as root the buffer may exceed rmem_max.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent bind: %w", err)
	}
	ch := make(chan Uevent, 64)
	u := &Uevents{C: ch, done: make(chan struct{})}
	go u.read(fd, ch)
	return u, nil
}

// Close stops delivering events and closes the socket; C is closed.
func (u *Uevents) Close() { u.once.Do(func() { close(u.done) }) }

func (u *Uevents) read(fd int, ch chan<- Uevent) {
	defer close(ch)
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-u.done:
			return
		default:
		}
		// Poll with a timeout so that Close is noticed: closing a socket does not
		// wake a blocked recvfrom.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 200); err != nil && err != unix.EINTR {
			return
		} else if n <= 0 {
			continue
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR || err == unix.ENOBUFS {
				continue // ENOBUFS: events were lost; the next sysfs scan finds their devices
			}
			return
		}
		e, err := ParseUevent(buf[:n])
		if err != nil {
			continue
		}
		select {
		case ch <- e:
		case <-u.done:
			return
		}
	}
}
