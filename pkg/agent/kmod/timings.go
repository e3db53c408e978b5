package kmod

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Timings say where driver loading spent its time: under QEMU TCG every part counts,
// and the agent prints them with the "drivers loaded by modalias" line.
type Timings struct {
	Table time.Duration // reading and parsing the index files
	Scan  time.Duration // sysfs walks and modalias reads
	Match time.Duration // matching modaliases against the alias table
	// Rounds are the sysfs scans; Events the kernel uevents handled.
	Rounds, Events int
	// Loads are the finit_module calls, in the order they finished.
	Loads []ModuleLoad
}

// ModuleLoad is one finit_module call, timed from the loader's start.
type ModuleLoad struct {
	Name       string
	Start, End time.Duration
}

// Finit returns the summed time spent inside finit_module.
func (t Timings) Finit() time.Duration {
	var d time.Duration
	for _, l := range t.Loads {
		d += l.End - l.Start
	}
	return d
}

// Slowest names the n slowest module loads ("megaraid_sas=1.2s ...").
func (t Timings) Slowest(n int) string {
	loads := slices.Clone(t.Loads)
	slices.SortStableFunc(loads, func(a, b ModuleLoad) int { return int((b.End - b.Start) - (a.End - a.Start)) })
	var out []string
	for _, l := range loads[:min(n, len(loads))] {
		out = append(out, fmt.Sprintf("%s=%s", l.Name, (l.End-l.Start).Round(time.Millisecond)))
	}
	return strings.Join(out, " ")
}

// Trace lists every load as NAME@START+TOOK, in the order they finished.
func (t Timings) Trace() string {
	var out []string
	for _, l := range t.Loads {
		out = append(out, fmt.Sprintf("%s@%s+%s", l.Name, l.Start.Round(time.Millisecond), (l.End-l.Start).Round(time.Millisecond)))
	}
	return strings.Join(out, " ")
}
