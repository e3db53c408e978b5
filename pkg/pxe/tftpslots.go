package pxe

import (
	"bufio"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// tftpSlots shares the TFTP transfer slots. A transfer takes one slot of the total, one
// of its source address's share and one of its pod's share, so one source (a host, or
// everything behind one NAT address) or one pod cannot take every slot.
type tftpSlots struct {
	total, perSource, perPod int

	mu       sync.Mutex
	n        int
	bySource map[netip.Addr]int
	byPod    map[string]int
}

func newTFTPSlots(total, perSource, perPod int) *tftpSlots {
	return &tftpSlots{total: total, perSource: perSource, perPod: perPod,
		bySource: map[netip.Addr]int{}, byPod: map[string]int{}}
}

// Why a transfer got no slot: the metric and log reason (the client sees nothing and
// retransmits its request).
const (
	busyTotal  refusal = "busy"
	busySource refusal = "busy_source"
	busyPod    refusal = "busy_pod"
)

// acquire takes a slot for a transfer to src for pod, or says which limit is reached.
func (s *tftpSlots) acquire(src netip.Addr, pod string) refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.n >= s.total:
		return busyTotal
	case s.bySource[src] >= s.perSource:
		return busySource
	case s.byPod[pod] >= s.perPod:
		return busyPod
	}
	s.n++
	s.bySource[src]++
	s.byPod[pod]++
	return ""
}

func (s *tftpSlots) release(src netip.Addr, pod string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.bySource[src]--; s.bySource[src] <= 0 {
		delete(s.bySource, src)
	}
	if s.byPod[pod]--; s.byPod[pod] <= 0 {
		delete(s.byPod, pod)
	}
}

// inUse is the number of slots taken.
func (s *tftpSlots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// The states of a slotHold.
const (
	holdPending  int32 = iota // holds a slot; the client has not acknowledged yet
	holdAcked                 // holds a slot; the first DATA was acknowledged
	holdReleased              // gave the slot back early: no acknowledgement in time
	holdDone                  // the transfer ended
)

// slotHold is one transfer's hold on its slot. It is given back when the transfer ends,
// or when the client has not acknowledged the option ack or the first DATA within the
// first-ACK timeout: a client that never answers then spends pin/tftp's retries without
// a slot. A late acknowledgement takes a slot again, or ends the transfer "server busy".
type slotHold struct {
	slots    *tftpSlots
	src      netip.Addr
	pod      string
	state    atomic.Int32
	timer    *time.Timer
	released func() // counts an early release
}

func (s *tftpSlots) hold(src netip.Addr, pod string, firstACK time.Duration, released func()) *slotHold {
	h := &slotHold{slots: s, src: src, pod: pod, released: released}
	h.timer = time.AfterFunc(firstACK, h.expire)
	return h
}

func (h *slotHold) expire() {
	if h.state.CompareAndSwap(holdPending, holdReleased) {
		h.slots.release(h.src, h.pod)
		h.released()
	}
}

// acked is called when the client acknowledged the first DATA; false: its slot was
// given back and none is free now.
func (h *slotHold) acked() bool {
	if h.state.CompareAndSwap(holdPending, holdAcked) {
		h.timer.Stop()
		return true
	}
	if h.state.Load() != holdReleased || h.slots.acquire(h.src, h.pod) != "" {
		return false
	}
	h.state.Store(holdAcked)
	return true
}

// end gives the slot back, if the transfer still holds one.
func (h *slotHold) end() {
	h.timer.Stop()
	if old := h.state.Swap(holdDone); old == holdPending || old == holdAcked {
		h.slots.release(h.src, h.pod)
	}
}

// windowed is pin/tftp's transfer once it agreed a windowsize (third_party/pin-tftp).
type windowed interface{ WindowSize() int }

// ackReader is the file as pin/tftp reads it. pin/tftp fills one block per ReadFull and
// asks for the block after its window (one block, or the RFC 7440 windowsize agreed)
// only after the first one was acknowledged, so a read beyond the first window means
// the client acknowledged the first DATA. Read errors become "file not found": no Go
// error text reaches the client.
type ackReader struct {
	r     *bufio.Reader
	h     *slotHold
	win   windowed // nil: one block
	block int      // bytes of the first window: the first read's length times the window
	sent  int64    // bytes handed to pin/tftp
	acked bool
}

func (a *ackReader) Read(p []byte) (int, error) {
	if !a.acked {
		if a.block == 0 {
			a.block = len(p)
			if a.win != nil {
				a.block *= max(a.win.WindowSize(), 1) // the options are agreed by now
			}
		} else if a.sent >= int64(a.block) {
			if !a.h.acked() {
				return 0, errTFTPBusy
			}
			a.acked = true
		}
	}
	n, err := a.r.Read(p)
	a.sent += int64(n)
	if err != nil && err != io.EOF {
		return n, errTFTPNotFound
	}
	return n, err
}
