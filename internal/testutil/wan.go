package testutil

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
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
	delay atomic.Int64  // time.Duration
	loss  atomic.Uint64 // math.Float64bits
	down  atomic.Bool
	obs   atomic.Pointer[func(dir int, frame []byte)]
	// Forwarded counts the bytes delivered A→B and B→A.
	Forwarded [2]atomic.Int64
	// Dropped counts the frames lost A→B and B→A (loss, queue limit, link down).
	Dropped [2]atomic.Int64
	files   []*os.File
	wg      sync.WaitGroup
}

// Set changes the link's delay and loss; frames already queued keep their due time.
func (w *WAN) Set(cfg WANConfig) {
	w.delay.Store(int64(cfg.Delay))
	w.loss.Store(math.Float64bits(cfg.Loss))
}

// Observe calls f with every frame read from either side (dir 0: A→B, 1: B→A), before
// loss; f must not keep or modify the frame and must be quick.
func (w *WAN) Observe(f func(dir int, frame []byte)) { w.obs.Store(&f) }

// SetDown cuts the link (every frame is dropped, in both directions) or restores it.
func (w *WAN) SetDown(down bool) { w.down.Store(down) }

// WANLink creates TAP device devA in a and devB in b, both up, and forwards frames
// between them as cfg says until the test ends.
func (tp *Topology) WANLink(a *NS, devA string, b *NS, devB string, cfg WANConfig) *WAN {
	tp.t.Helper()
	w := &WAN{}
	w.Set(cfg)
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
		buf := make([]byte, 65536)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if f := w.obs.Load(); f != nil {
				(*f)(dir, buf[:n])
			}
			if loss := math.Float64frombits(w.loss.Load()); w.down.Load() || (loss > 0 && rng.Float64() < loss) {
				w.Dropped[dir].Add(1)
				continue
			}
			select {
			case q <- wanFrame{due: time.Now().Add(time.Duration(w.delay.Load())), b: append([]byte(nil), buf[:n]...)}:
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
	if err := enterNamespace(ns); err != nil {
		return nil, err
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
