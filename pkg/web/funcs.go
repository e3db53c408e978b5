package web

import (
	"html/template"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"dur":   fmtDur,
	"dash":  func(s string) string { return orDash(s) },
	"count": func(c counts, s podmgr.HostState) int { return c.ByState[s] },
	"states": func() []podmgr.HostState {
		return states
	},
	"rule": ruleText,
	"secs": func(s float64) string { return fmtDur(time.Duration(s * float64(time.Second))) },
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// fmtDur shows a stage duration to the precision a person reads.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// ruleText is a match rule as the pod page lists its relays.
func ruleText(m podmgr.MatchRule) string {
	var parts []string
	for _, kv := range [][2]string{{"giaddr", m.Giaddr}, {"relay source", m.RelaySource}, {"circuit-id", m.CircuitID},
		{"remote-id", m.RemoteID}, {"link selection", m.LinkSelection}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}
