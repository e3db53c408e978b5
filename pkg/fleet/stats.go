package fleet

import (
	"math"
	"slices"
	"time"
)

// Latency is the spread of one stage's (or the whole provision's) durations.
type Latency struct {
	Stage Stage   `json:"stage"` // "total" for first DHCP to installed
	Count int     `json:"count"`
	P50   float64 `json:"p50Seconds"`
	P99   float64 `json:"p99Seconds"`
	Max   float64 `json:"maxSeconds"`
}

// StageTotal names the whole provision in a Latency.
const StageTotal Stage = "total"

// percentile is the nearest-rank percentile p (0-100) of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func latency(stage Stage, vals []float64) Latency {
	s := slices.Clone(vals)
	slices.Sort(s)
	l := Latency{Stage: stage, Count: len(s)}
	if len(s) > 0 {
		l.P50, l.P99, l.Max = round(percentile(s, 50)), round(percentile(s, 99)), round(s[len(s)-1])
	}
	return l
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

// latencies summarises the installed attempts: per stage in order, then total.
func latencies(ts []Timeline) []Latency {
	per := map[Stage][]float64{}
	var total []float64
	for _, t := range ts {
		if t.Outcome != OutcomeInstalled {
			continue
		}
		for _, m := range t.Marks[1:] {
			per[m.Stage] = append(per[m.Stage], m.Seconds)
		}
		total = append(total, t.TotalSeconds)
	}
	var out []Latency
	for _, s := range Stages()[1:] {
		if len(per[s]) > 0 {
			out = append(out, latency(s, per[s]))
		}
	}
	return append(out, latency(StageTotal, total))
}

// Failure counts failed attempts by the stage they stopped in and their reason.
type Failure struct {
	Stage  Stage  `json:"stage"`
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	// Last is the most recent failure's host and time.
	LastMAC string    `json:"lastMac"`
	LastAt  time.Time `json:"lastAt"`
}

// maxFailureKinds bounds the failure list of one pod (most frequent first).
const maxFailureKinds = 20

func failures(ts []Timeline) []Failure {
	type key struct {
		stage  Stage
		reason string
	}
	byKey := map[key]*Failure{}
	for _, t := range ts {
		if t.Outcome != OutcomeFailed {
			continue
		}
		k := key{t.Stuck, t.Reason}
		f, ok := byKey[k]
		if !ok {
			f = &Failure{Stage: t.Stuck, Reason: t.Reason}
			byKey[k] = f
		}
		f.Count++
		if t.End.After(f.LastAt) {
			f.LastAt, f.LastMAC = t.End, t.MAC
		}
	}
	out := make([]Failure, 0, len(byKey))
	for _, f := range byKey {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Failure) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return b.LastAt.Compare(a.LastAt)
	})
	if len(out) > maxFailureKinds {
		out = out[:maxFailureKinds]
	}
	return out
}
