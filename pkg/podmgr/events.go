package podmgr

import (
	"slices"
	"sync"
)

func sortEvents(evs []Event) {
	slices.SortFunc(evs, func(a, b Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
}

// subscribers fans host events out to watchers (podboot host watch). A slow watcher
// loses events rather than slowing the services down.
type subscribers struct {
	mu   sync.Mutex
	next int
	subs map[int]chan Event
}

func newSubscribers() *subscribers { return &subscribers{subs: map[int]chan Event{}} }

func (s *subscribers) publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe returns a channel of host events and a function that ends the subscription.
func (m *Manager) Subscribe() (<-chan Event, func()) {
	s := m.subs
	ch := make(chan Event, 256)
	s.mu.Lock()
	id := s.next
	s.next++
	s.subs[id] = ch
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}
