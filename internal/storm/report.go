package storm

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// Report is a storm's outcome, as JSON for the harness and as text for people.
type Report struct {
	Hosts       int `json:"hosts"`
	Pods        int `json:"pods"`
	Provisioned int `json:"provisioned"`
	Failed      int `json:"failed"`
	// Wall is from the first power-on to the last host's end; PerMinute is hosts
	// provisioned per minute of it.
	Wall      time.Duration `json:"wall"`
	PerMinute float64       `json:"perMinute"`
	// Total is time to installed (first DISCOVER to installed), Stages per stage, over
	// the provisioned hosts.
	Total  Quantiles            `json:"total"`
	Stages map[string]Quantiles `json:"stages"`
	// FailuresByStage counts failed hosts by the stage they stopped in; FirstError is
	// one error per stage.
	FailuresByStage map[string]int    `json:"failuresByStage,omitempty"`
	FirstError      map[string]string `json:"firstError,omitempty"`
	DHCPRetries     int               `json:"dhcpRetries"`
	Stage2Resumes   int               `json:"stage2Resumes"`
	// FailedMACs are the hosts that did not finish (at most 20).
	FailedMACs []string `json:"failedMACs,omitempty"`
}

// Quantiles of a duration sample.
type Quantiles struct {
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

func quantiles(d []time.Duration) Quantiles {
	if len(d) == 0 {
		return Quantiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[int(q*float64(len(d)-1)+0.5)] }
	return Quantiles{P50: at(0.5), P99: at(0.99), Max: d[len(d)-1]}
}

func newReport(f *Fleet, results []Result, start, end time.Time) *Report {
	r := &Report{Hosts: len(results), Pods: len(f.Pods), Stages: map[string]Quantiles{}, FailuresByStage: map[string]int{}, FirstError: map[string]string{}}
	var totals []time.Duration
	per := map[string][]time.Duration{}
	last := start
	for _, res := range results {
		r.DHCPRetries += res.DHCPRetries
		r.Stage2Resumes += res.Resumes
		if res.FailedStage != "" {
			r.Failed++
			r.FailuresByStage[res.FailedStage]++
			if _, ok := r.FirstError[res.FailedStage]; !ok {
				r.FirstError[res.FailedStage] = res.MAC + ": " + res.Err
			}
			if len(r.FailedMACs) < 20 {
				r.FailedMACs = append(r.FailedMACs, res.MAC)
			}
			continue
		}
		r.Provisioned++
		totals = append(totals, res.Total)
		if e := res.Start.Add(res.Total); e.After(last) {
			last = e
		}
		for s, d := range res.Stages {
			per[s] = append(per[s], d)
		}
	}
	if r.Failed > 0 {
		last = end
	}
	r.Wall = last.Sub(start)
	if r.Wall > 0 {
		r.PerMinute = float64(r.Provisioned) / r.Wall.Minutes()
	}
	r.Total = quantiles(totals)
	for s, d := range per {
		r.Stages[s] = quantiles(d)
	}
	return r
}

// Print writes the report as text.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "hosts %d across %d pods: %d provisioned, %d failed in %s (%.0f hosts/min)\n",
		r.Hosts, r.Pods, r.Provisioned, r.Failed, r.Wall.Round(10*time.Millisecond), r.PerMinute)
	fmt.Fprintf(w, "%-12s %10s %10s %10s\n", "stage", "p50", "p99", "max")
	for _, s := range Stages {
		q := r.Stages[s]
		fmt.Fprintf(w, "%-12s %10s %10s %10s\n", s, round(q.P50), round(q.P99), round(q.Max))
	}
	fmt.Fprintf(w, "%-12s %10s %10s %10s\n", "to installed", round(r.Total.P50), round(r.Total.P99), round(r.Total.Max))
	fmt.Fprintf(w, "DHCP retransmissions %d, stage2 resumes %d\n", r.DHCPRetries, r.Stage2Resumes)
	stages := make([]string, 0, len(r.FailuresByStage))
	for s := range r.FailuresByStage {
		stages = append(stages, s)
	}
	sort.Strings(stages)
	for _, s := range stages {
		fmt.Fprintf(w, "failed in %-10s %d (first: %s)\n", s, r.FailuresByStage[s], r.FirstError[s])
	}
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
