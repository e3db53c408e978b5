package podmgr

import (
	"testing"
	"time"
	"unicode/utf8"
)

// TestEventPlace: the pod and time of stored events, read without a full decode where
// the record has the usual shape and by the full decode otherwise, are the decode's.
func TestEventPlace(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 46, 45, 471624907, time.UTC)
	tests := []struct {
		name  string
		e     Event
		quick bool
	}{
		{"host event", Event{Seq: 5, Time: at, Kind: KindHost, Pod: "pod-a", MAC: "52:54:00:00:00:01", Action: "x"}, true},
		{"no pod", Event{Seq: 6, Time: at, Kind: KindHost, MAC: "52:54:00:00:00:01"}, true},
		{"zero time", Event{Seq: 7, Kind: KindHost, Pod: "p"}, true},
		{"time zone", Event{Seq: 8, Time: at.In(time.FixedZone("x", 3600)), Kind: KindHost, Pod: "p"}, true},
		{"escaped pod", Event{Seq: 9, Time: at, Kind: KindHost, Pod: "a<b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encode(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := quickPlace(b); ok != tt.quick {
				t.Errorf("quick read: %v, want %v", ok, tt.quick)
			}
			pod, got := EventPlace(b)
			if pod != tt.e.Pod || !got.Equal(tt.e.Time) {
				t.Errorf("place %q %v, want %q %v", pod, got, tt.e.Pod, tt.e.Time)
			}
		})
	}
	if pod, at := EventPlace([]byte("\x01{nonsense")); pod != "" || !at.IsZero() {
		t.Errorf("a damaged record's place is %q %v, want the zero one", pod, at)
	}
}

// FuzzEventPlace: the place read from a stored event is the place its index entry was
// put at (the event's own pod and time), for any event the store can write.
func FuzzEventPlace(f *testing.F) {
	f.Add(uint64(1), int64(2e9), int64(5), "host", "pod-a", "52:54:00:00:00:01")
	f.Add(uint64(2), int64(-62135596800), int64(0), "audit", "", "")
	f.Add(uint64(3), int64(2e9), int64(0), "host", "a<b\"", "m")
	f.Fuzz(func(t *testing.T, seq uint64, sec, nsec int64, kind, pod, mac string) {
		if !utf8.ValidString(pod) { // pod names are validated; JSON would change these
			return
		}
		e := Event{Seq: seq, Time: time.Unix(sec, nsec).UTC(), Kind: EventKind(kind), Pod: pod, MAC: mac}
		b, err := encode(e)
		if err != nil {
			return
		}
		if got, at := EventPlace(b); got != e.Pod || !at.Equal(e.Time) {
			t.Fatalf("%q: place %q %v, want %q %v", b, got, at, e.Pod, e.Time)
		}
	})
}

// FuzzEventPlaceBytes: any bytes, a damaged record's too, have a place (no panic).
func FuzzEventPlaceBytes(f *testing.F) {
	b, _ := encode(Event{Seq: 1, Time: time.Unix(2e9, 5).UTC(), Kind: KindHost, Pod: "pod-a", MAC: "m"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { EventPlace(b) })
}
