package podmgr

import (
	"sync"
	"time"
)

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

// EventLimits bound the stored host events: a ring per host, and a global retention
// the server enforces in the background (events of unknown MACs and of hosts since
// deleted count too). Audit records, written only by authenticated changes, are kept.
type EventLimits struct {
	// PerHost is how many events one MAC keeps; an append beyond drops its oldest in the
	// same transaction (default 500).
	PerHost uint64 `yaml:"perHost"`
	// Max is how many host events are kept in all (default 200000).
	Max int `yaml:"max"`
	// MaxAge drops host events older than this (default 720h, 30 days).
	MaxAge time.Duration `yaml:"maxAge"`
	// PruneEvery is how often the retention runs (default 1m).
	PruneEvery time.Duration `yaml:"pruneEvery"`
}

// DefaultEventLimits are the limits when the config says nothing.
func DefaultEventLimits() EventLimits {
	return EventLimits{PerHost: 500, Max: 200000, MaxAge: 30 * 24 * time.Hour, PruneEvery: time.Minute}
}

// WithDefaults fills in zero fields.
func (l EventLimits) WithDefaults() EventLimits {
	d := DefaultEventLimits()
	if l.PerHost == 0 {
		l.PerHost = d.PerHost
	}
	if l.Max == 0 {
		l.Max = d.Max
	}
	if l.MaxAge == 0 {
		l.MaxAge = d.MaxAge
	}
	if l.PruneEvery == 0 {
		l.PruneEvery = d.PruneEvery
	}
	return l
}
