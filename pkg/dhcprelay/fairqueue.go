package dhcprelay

import (
	"net/netip"
	"sync"
)

// packet is one received datagram waiting for a worker.
type packet struct {
	buf  *[]byte // pooled buffer; data is (*buf)[:n]
	n    int
	peer netip.AddrPort
	loc  local
}

// fairQueue holds packets in one bounded FIFO per relay (source address) and hands them
// to workers round-robin across relays, so a relay flooding at any rate gets at most its
// share of the workers and sheds its own excess, while quiet relays are served at once.
type fairQueue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	perKey   int
	totalCap int
	total    int
	queues   map[netip.Addr]*fifo
	active   []netip.Addr // relays with waiting packets, in round-robin order
	next     int
	closed   bool
}

type fifo struct {
	items []packet
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func newFairQueue(perKey, totalCap int) *fairQueue {
	q := &fairQueue{perKey: perKey, totalCap: totalCap, queues: map[netip.Addr]*fifo{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues p; false when its relay's queue or the whole queue is full (shed).
func (q *fairQueue) push(key netip.Addr, p packet) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.total >= q.totalCap {
		return false
	}
	f, ok := q.queues[key]
	if !ok {
		f = &fifo{}
		q.queues[key] = f
		q.active = append(q.active, key)
	}
	if f.len() >= q.perKey {
		return false
	}
	f.items = append(f.items, p)
	q.total++
	q.cond.Signal()
	return true
}

// pop waits for a packet; false once the queue is closed and empty.
func (q *fairQueue) pop() (packet, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.total == 0 {
		if q.closed {
			return packet{}, false
		}
		q.cond.Wait()
	}
	if q.next >= len(q.active) {
		q.next = 0
	}
	key := q.active[q.next]
	f := q.queues[key]
	p := f.items[f.head]
	f.items[f.head] = packet{}
	f.head++
	q.total--
	if f.len() == 0 {
		delete(q.queues, key)
		q.active = append(q.active[:q.next], q.active[q.next+1:]...)
	} else {
		if f.head > 64 && f.head*2 > len(f.items) {
			f.items = append(f.items[:0], f.items[f.head:]...)
			f.head = 0
		}
		q.next++
	}
	return p, true
}

// depth is the number of waiting packets.
func (q *fairQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// close wakes the workers; they drain what is queued and stop.
func (q *fairQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
