package podmgr

import (
	"bytes"
	"time"
)

// The index keys of an event stored for deletion (a ring trim, retention) need its pod
// and time; decoding the whole record cost as much as the rest of an append. json.Marshal
// writes Event's fields in order, so a record starts
// {"seq":N,"time":"T","kind":"K" and then ,"pod":"P" when it has a pod: quickPlace
// reads that, and anything else (escapes, another order) goes to the full decode.

// eventPlace is what the index keys of an event need: its pod and time.
type eventPlace struct {
	Time time.Time `json:"time"`
	Pod  string    `json:"pod,omitempty"`
}

// EventPlace returns the pod and time of a stored event record (EncodeRecord's form):
// where the record's pod index entry is.
func EventPlace(b []byte) (pod string, at time.Time) {
	p := placeOf(b)
	return p.Pod, p.Time
}

// placeOf reads a record's place. A damaged record's place is the zero one, where its
// index entry is put and deleted alike: it blocks no append, trim, retention or open,
// and no read by pod returns it (reading it fails as before).
func placeOf(b []byte) eventPlace {
	if p, ok := quickPlace(b); ok {
		return p
	}
	var p eventPlace
	if decode(b, &p) != nil {
		return eventPlace{}
	}
	return p
}

func quickPlace(b []byte) (eventPlace, bool) {
	var p eventPlace
	rest, ok := bytes.CutPrefix(b, []byte{encodingVersion})
	if rest, ok = cutPrefix(rest, ok, `{"seq":`); !ok {
		return p, false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if rest, ok = cutPrefix(rest[i:], i > 0, `,"time":`); !ok {
		return p, false
	}
	ts, rest, ok := plainString(rest)
	if !ok {
		return p, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return p, false
	}
	p.Time = t
	if rest, ok = cutPrefix(rest, true, `,"kind":`); !ok {
		return p, false
	}
	if _, rest, ok = plainString(rest); !ok {
		return p, false
	}
	if rest, ok = cutPrefix(rest, true, `,"pod":`); !ok {
		return p, len(rest) > 1 && rest[0] == ',' && rest[1] == '"' || len(rest) > 0 && rest[0] == '}'
	}
	pod, _, ok := plainString(rest)
	p.Pod = string(pod)
	return p, ok
}

func cutPrefix(b []byte, ok bool, prefix string) ([]byte, bool) {
	if !ok {
		return b, false
	}
	return bytes.CutPrefix(b, []byte(prefix))
}

// plainString reads a JSON string of printable ASCII without escapes at the start of b
// (what the full decode reads the same).
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, b, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, b, false
		}
	}
	return nil, b, false
}
