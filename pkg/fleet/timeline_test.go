package fleet

import (
	"fmt"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

type ev struct {
	at     int // seconds after t0
	action string
	state  podmgr.HostState
	detail string
}

func events(evs ...ev) []podmgr.Event {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var out []podmgr.Event
	for i, e := range evs {
		out = append(out, podmgr.Event{Seq: uint64(i + 1), Time: t0.Add(time.Duration(e.at) * time.Second), Kind: podmgr.KindHost,
			Pod: "pod-a", MAC: "52:54:00:00:00:01", Action: e.action, State: e.state, Detail: e.detail})
	}
	return out
}

// A full provision as the services record it: registration, offer, bootloader over
// TFTP, iPXE's own DHCP (a later offer, same attempt), script, kernel, initrd, agent.
var fullRun = []ev{
	{0, "registered", podmgr.StateRegistered, ""},
	{10, "dhcp.offer", podmgr.StateOffered, "ip=192.0.2.11"},
	{11, "tftp.sent", "", "file=undionly.kpxe@1"},
	{13, "dhcp.offer", podmgr.StateOffered, "ip=192.0.2.11"},
	{14, "token.issued", podmgr.StateOffered, ""},
	{14, "http.script", podmgr.StateBooting, ""},
	{15, "http.sent", podmgr.StateBooting, "file=stage1-kernel@1"},
	{17, "http.sent", podmgr.StateBooting, "file=stage1-initrd@1"},
	{40, "agent.booted", podmgr.StateBooting, ""},
	{41, "agent.network", podmgr.StateBooting, ""},
	{60, "agent.verified", podmgr.StateVerified, ""},
	{61, "kickstart.served", podmgr.StateInstalling, ""},
	{90, "installed", podmgr.StateProvisioned, ""},
}

func TestTimelines(t *testing.T) {
	cases := []struct {
		name     string
		evs      []ev
		attempts int
		outcome  string
		stages   string // stage=seconds of the last attempt
		stuck    Stage
		reason   string
	}{
		{"full provision", fullRun, 1, OutcomeInstalled,
			"[dhcp=0 bootloader=1 script=3 kernel=3 agent=23 stage2=20 kickstart=1 installed=29]", "", ""},
		{"agent never calls", fullRun[:8], 1, OutcomeInProgress,
			"[dhcp=0 bootloader=1 script=3 kernel=3]", StageAgent, ""},
		{"kernel only: kernel+initrd not reached", fullRun[:7], 1, OutcomeInProgress,
			"[dhcp=0 bootloader=1 script=3]", StageKernel, ""},
		{"agent failure", append(append([]ev{}, fullRun[:10]...), ev{50, "agent.failed", podmgr.StateFailed, "chainload: no disk"}), 1, OutcomeFailed,
			"[dhcp=0 bootloader=1 script=3 kernel=3 agent=23]", StageStage2, "chainload: no disk"},
		{"deadline, then a retry that installs", append(append(append([]ev{}, fullRun[:8]...),
			ev{700, ActionDeadline, podmgr.StateFailed, "no agent contact"}), shift(fullRun[1:], 1000)...), 2, OutcomeInstalled,
			"[dhcp=0 bootloader=1 script=3 kernel=3 agent=23 stage2=20 kickstart=1 installed=29]", "", ""},
		{"reprovision abandons the attempt", append(append(append([]ev{}, fullRun[:6]...),
			ev{30, "reprovision", podmgr.StateRegistered, ""}), shift(fullRun[1:3], 40)...), 2, OutcomeInProgress,
			"[dhcp=0 bootloader=1]", StageScript, ""},
		{"renewals of an installed host start nothing", append(append([]ev{}, fullRun...), ev{5000, "dhcp.offer", podmgr.StateProvisioned, ""}), 1, OutcomeInstalled,
			"[dhcp=0 bootloader=1 script=3 kernel=3 agent=23 stage2=20 kickstart=1 installed=29]", "", ""},
		{"no offer: no attempt", fullRun[:1], 0, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := Timelines(events(c.evs...))
			if len(ts) != c.attempts {
				t.Fatalf("%d attempts, want %d: %+v", len(ts), c.attempts, ts)
			}
			if c.attempts == 0 {
				return
			}
			last := ts[len(ts)-1]
			var stages []string
			for _, m := range last.Marks {
				stages = append(stages, fmt.Sprintf("%s=%g", m.Stage, m.Seconds))
			}
			if got := fmt.Sprint(stages); got != c.stages || last.Outcome != c.outcome || last.Stuck != c.stuck || last.Reason != c.reason {
				t.Errorf("got %s outcome=%s stuck=%s reason=%q\nwant %s outcome=%s stuck=%s reason=%q", got, last.Outcome, last.Stuck, last.Reason, c.stages, c.outcome, c.stuck, c.reason)
			}
			if c.attempts == 2 && ts[0].Outcome == OutcomeInProgress {
				t.Errorf("first attempt still in progress: %+v", ts[0])
			}
		})
	}
}

func shift(evs []ev, by int) []ev {
	out := make([]ev, len(evs))
	for i, e := range evs {
		e.at += by
		out[i] = e
	}
	return out
}

func TestLatencies(t *testing.T) {
	var ts []Timeline
	for i := 1; i <= 100; i++ {
		ts = append(ts, Timeline{Outcome: OutcomeInstalled, TotalSeconds: float64(i), Marks: []Mark{{Stage: StageDHCP}, {Stage: StageScript, Seconds: float64(i) / 10}}})
	}
	ts = append(ts, Timeline{Outcome: OutcomeFailed, TotalSeconds: 1000, Marks: []Mark{{Stage: StageDHCP}}})
	l := latencies(ts)
	if len(l) != 2 || l[0].Stage != StageScript || l[1].Stage != StageTotal {
		t.Fatalf("latencies: %+v", l)
	}
	if tot := l[1]; tot.Count != 100 || tot.P50 != 50 || tot.P99 != 99 || tot.Max != 100 {
		t.Errorf("total: %+v, want count 100 p50 50 p99 99 max 100 (failed attempts excluded)", tot)
	}
	if s := l[0]; s.P50 != 5 || s.P99 != 9.9 {
		t.Errorf("script: %+v", s)
	}
}
