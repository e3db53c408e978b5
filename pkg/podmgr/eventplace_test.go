package podmgr

import (
	"testing"
	"time"
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

// FuzzEventPlace: whatever quickPlace reads from a record the full decode also reads,
// it reads the same.
func FuzzEventPlace(f *testing.F) {
	for _, e := range []Event{{Seq: 1, Time: time.Unix(2e9, 5).UTC(), Kind: KindHost, Pod: "pod-a", MAC: "m"}, {Seq: 2, Kind: KindAudit}} {
		b, _ := encode(e)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, ok := quickPlace(b)
		var full eventPlace
		if !ok || decode(b, &full) != nil {
			return
		}
		if q.Pod != full.Pod || !q.Time.Equal(full.Time) {
			t.Fatalf("%q: quick %q %v, decode %q %v", b, q.Pod, q.Time, full.Pod, full.Time)
		}
	})
}
