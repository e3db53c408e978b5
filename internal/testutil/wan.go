package testutil

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WANConfig shapes an emulated WAN link, per direction: each frame is dropped with
// probability Loss, else delivered Delay after it was read, in order. The kernel of the
// test machines has no sch_netem, so the link is two TAP devices joined by this
// process (docs/benchmarks.md, "WAN").
type WANConfig struct {
	Delay time.Duration // one way: RTT = 2 × Delay
	Loss  float64       // 0.01 is 1 %
}

// wanQueueLimit is how many frames one direction holds before it drops new ones
// (netem's default limit).
const wanQueueLimit = 1000

// WAN is a running emulated link between two TAP devices in two namespaces.
type WAN struct {
	cfg  WANConfig
	down atomic.Bool
	// Forwarded counts the bytes delivered A→B and B→A.
	Forwarded [2]atomic.Int64
	// Dropped counts the frames lost A→B and B→A (loss, queue limit, link down).
	Dropped [2]atomic.Int64
	files   []*os.File
	wg      sync.WaitGroup
}

// SetDown cuts the link (every frame is dropped, in both directions) or restores it.
func (w *WAN) SetDown(down bool) { w.down.Store(down) }

// WANLink creates TAP device devA in a and devB in b, both up, and forwards frames
// between them as cfg says until the test ends.
func (tp *Topology) WANLink(a *NS, devA string, b *NS, devB string, cfg WANConfig) *WAN {
	tp.t.Helper()
	w := &WAN{cfg: cfg}
	fa, err := openTap(a.Name, devA)
	if err != nil {
		tp.t.Fatalf("WAN link: %v", err)
	}
	fb, err := openTap(b.Name, devB)
	if err != nil {
		fa.Close()
		tp.t.Fatalf("WAN link: %v", err)
	}
	w.files = []*os.File{fa, fb}
	a.Run("ip", "link", "set", devA, "up")
	b.Run("ip", "link", "set", devB, "up")
	w.forward(fa, fb, 0)
	w.forward(fb, fa, 1)
	tp.t.Cleanup(w.close)
	return w
}

func (w *WAN) close() {
	for _, f := range w.files {
		f.Close()
	}
	w.wg.Wait()
}

type wanFrame struct {
	due time.Time
	b   []byte
}

// forward copies frames from src to dst: a reader that drops or queues each frame with
// its due time, a writer that delivers them in order when due.
func (w *WAN) forward(src, dst *os.File, dir int) {
	q := make(chan wanFrame, wanQueueLimit)
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		defer close(q)
		rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(dir)))
		for {
			buf := make([]byte, 65536)
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if w.down.Load() || (w.cfg.Loss > 0 && rng.Float64() < w.cfg.Loss) {
				w.Dropped[dir].Add(1)
				continue
			}
			select {
			case q <- wanFrame{due: time.Now().Add(w.cfg.Delay), b: buf[:n]}:
			default:
				w.Dropped[dir].Add(1)
			}
		}
	}()
	go func() {
		defer w.wg.Done()
		for f := range q {
			if d := time.Until(f.due); d > 0 {
				time.Sleep(d) // the link's delay itself, not a synchronisation
			}
			if _, err := dst.Write(f.b); err == nil {
				w.Forwarded[dir].Add(int64(len(f.b)))
			}
		}
	}()
}

// openTap creates (or attaches to) TAP device dev in namespace ns and returns its
// file. The namespace switch happens on a locked thread that is never unlocked, so Go
// discards it afterwards instead of reusing a thread in the wrong namespace.
func openTap(ns, dev string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := openTapHere(ns, dev)
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

func openTapHere(ns, dev string) (*os.File, error) {
	nsf, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer nsf.Close()
	if err := unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter namespace %s: %w", ns, err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun in %s: %w", ns, err)
	}
	var ifr [unix.IFNAMSIZ + 64]byte
	copy(ifr[:unix.IFNAMSIZ-1], dev)
	*(*uint16)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr[0]))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s in %s: %w", dev, ns, errno)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", dev, err)
	}
	return os.NewFile(uintptr(fd), dev), nil
}
