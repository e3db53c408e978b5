package fleet

import (
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Stage is a milestone of a provision, in the order a host reaches them.
type Stage string

// The stages of a provision. A stage is reached when its event is recorded; its
// duration is the time since the stage before it was reached.
const (
	// StageDHCP: the DHCP offer that started the attempt (host moved to offered).
	StageDHCP Stage = "dhcp"
	// StageBootloader: the first boot file sent (TFTP or HTTP) before the script.
	StageBootloader Stage = "bootloader"
	// StageScript: the iPXE script (or the secure-boot grub.cfg) served.
	StageScript Stage = "script"
	// StageKernel: kernel and initrd sent (the second boot file after the script).
	StageKernel Stage = "kernel"
	// StageAgent: the stage1 agent called in (agent.booted).
	StageAgent Stage = "agent"
	// StageStage2: the stage2 image downloaded and its signature verified.
	StageStage2 Stage = "stage2"
	// StageKickstart: the kickstart served to the agent.
	StageKickstart Stage = "kickstart"
	// StageInstalled: the installed call-back; the provision is done.
	StageInstalled Stage = "installed"
)

// Stages lists the stages in order.
func Stages() []Stage {
	return []Stage{StageDHCP, StageBootloader, StageScript, StageKernel, StageAgent, StageStage2, StageKickstart, StageInstalled}
}

func stageIndex(s Stage) int {
	for i, x := range Stages() {
		if x == s {
			return i
		}
	}
	return -1
}

// The outcomes of an attempt.
const (
	OutcomeInstalled  = "installed"
	OutcomeFailed     = "failed"
	OutcomeInProgress = "in_progress"
	// OutcomeAbandoned: a new attempt started before this one ended (a reprovision, a
	// host reset by hand).
	OutcomeAbandoned = "abandoned"
)

// ActionDeadline is the host event recorded when a host missed a stage deadline.
const ActionDeadline = "stage.deadline"

// Mark is one stage reached.
type Mark struct {
	Stage Stage     `json:"stage"`
	At    time.Time `json:"at"`
	// Seconds is the time since the previous stage was reached (0 for dhcp).
	Seconds float64 `json:"seconds"`
	Action  string  `json:"action"`
	Detail  string  `json:"detail,omitempty"`
}

// Timeline is one provision attempt of a host: from the DHCP offer that started it to
// installed, failed, or the stage it is in now.
type Timeline struct {
	MAC     string    `json:"mac"`
	Pod     string    `json:"pod"`
	Start   time.Time `json:"start"`
	Marks   []Mark    `json:"stages"`
	Outcome string    `json:"outcome"`
	// Stuck is the stage not reached: where a failed attempt stopped, or what an attempt
	// in progress waits for.
	Stuck  Stage  `json:"stuck,omitempty"`
	Reason string `json:"reason,omitempty"`
	// End is when the attempt was installed or failed.
	End time.Time `json:"end,omitzero"`
	// TotalSeconds is first DHCP to installed (or to the failure).
	TotalSeconds float64 `json:"totalSeconds,omitempty"`
}

// Last is the last stage reached.
func (t Timeline) Last() Mark { return t.Marks[len(t.Marks)-1] }

// Next is the stage after the last one reached ("" after installed).
func (t Timeline) Next() Stage {
	i := stageIndex(t.Last().Stage)
	if s := Stages(); i+1 < len(s) {
		return s[i+1]
	}
	return ""
}

// Timelines splits a host's events (oldest first) into provision attempts, oldest
// first. An attempt starts with a DHCP offer that moved the host to offered from
// another state (registered, discovered, failed); later offers (iPXE's own DHCP,
// renewals) belong to the attempt. Events before the first such offer (registration,
// an earlier attempt's tail lost to the event ring) belong to none.
func Timelines(evs []podmgr.Event) []Timeline {
	var b builder
	for _, e := range evs {
		b.add(e)
	}
	return b.out
}

// builder builds timelines one event at a time (Timelines, and the metrics as events
// happen).
type builder struct {
	out       []Timeline
	bootFiles int
	prev      podmgr.HostState
}

// cur is the attempt events go to (nil before the first).
func (b *builder) cur() *Timeline {
	if len(b.out) == 0 {
		return nil
	}
	return &b.out[len(b.out)-1]
}

// add applies e and reports what it did: started an attempt, reached a stage, or ended
// the attempt (installed or failed).
func (b *builder) add(e podmgr.Event) (started, reached, ended bool) {
	before := b.prev
	if e.State != "" {
		b.prev = e.State
	}
	if e.Action == "dhcp.offer" && e.State == podmgr.StateOffered && before != podmgr.StateOffered {
		if c := b.cur(); c != nil && c.Outcome == OutcomeInProgress {
			c.Outcome = OutcomeAbandoned
		}
		b.out = append(b.out, Timeline{MAC: e.MAC, Pod: e.Pod, Start: e.Time, Outcome: OutcomeInProgress, Stuck: StageBootloader,
			Marks: []Mark{{Stage: StageDHCP, At: e.Time, Action: e.Action, Detail: e.Detail}}})
		b.bootFiles = 0
		return true, false, false
	}
	cur := b.cur()
	if cur == nil || cur.Outcome != OutcomeInProgress {
		return b.startLate(e, before), false, false
	}
	switch s, ok := stageOf(e, cur.Last().Stage, &b.bootFiles); {
	case ok:
		cur.reach(s, e)
		return false, true, s == StageInstalled
	case e.Action == agentproto.ActionFailed || e.Action == ActionDeadline:
		cur.fail(e)
		return false, false, true
	}
	return false, false, false
}

// startLate starts an attempt whose offer was not recorded (the DHCP service sheds
// events when its queue is full): a stage event that moves the host out of registered,
// discovered or failed. The attempt then starts at that stage.
func (b *builder) startLate(e podmgr.Event, before podmgr.HostState) bool {
	switch before {
	case podmgr.StateRegistered, podmgr.StateDiscovered, podmgr.StateFailed:
	default:
		return false
	}
	if e.State == "" || e.State == before {
		return false
	}
	b.bootFiles = 0
	s, ok := stageOf(e, StageDHCP, &b.bootFiles)
	if !ok {
		return false
	}
	t := Timeline{MAC: e.MAC, Pod: e.Pod, Start: e.Time, Outcome: OutcomeInProgress,
		Marks: []Mark{{Stage: s, At: e.Time, Action: e.Action, Detail: e.Detail}}}
	t.Stuck = t.Next()
	b.out = append(b.out, t)
	return true
}

// stageOf is the stage e reaches when the attempt's last stage is last, if any. Boot
// files after the script count toward kernel+initrd, which is reached by the second.
func stageOf(e podmgr.Event, last Stage, bootFiles *int) (Stage, bool) {
	var s Stage
	switch e.Action {
	case "tftp.sent", "http.sent":
		switch {
		case last == StageDHCP:
			s = StageBootloader
		case last == StageScript && e.State == podmgr.StateBooting:
			if *bootFiles++; *bootFiles < 2 {
				return "", false
			}
			s = StageKernel
		}
	case "http.script", "tftp.grubcfg":
		s = StageScript
	case agentproto.ActionBooted:
		s = StageAgent
	case agentproto.ActionVerified:
		s = StageStage2
	case "kickstart.served":
		s = StageKickstart
	case "installed":
		s = StageInstalled
	}
	if s == "" || stageIndex(s) <= stageIndex(last) {
		return "", false
	}
	return s, true
}

func (t *Timeline) reach(s Stage, e podmgr.Event) {
	t.Marks = append(t.Marks, Mark{Stage: s, At: e.Time, Seconds: e.Time.Sub(t.Last().At).Seconds(), Action: e.Action, Detail: e.Detail})
	if s == StageInstalled {
		t.Outcome, t.End, t.Stuck = OutcomeInstalled, e.Time, ""
		t.TotalSeconds = e.Time.Sub(t.Start).Seconds()
		return
	}
	t.Stuck = t.Next()
}

func (t *Timeline) fail(e podmgr.Event) {
	t.Outcome, t.Stuck, t.Reason, t.End = OutcomeFailed, t.Next(), e.Detail, e.Time
	t.TotalSeconds = e.Time.Sub(t.Start).Seconds()
}
