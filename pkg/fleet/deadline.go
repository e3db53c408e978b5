package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// DefaultDeadlineEvery is how often the stage deadlines are checked.
const DefaultDeadlineEvery = 30 * time.Second

// deadlineOf is the deadline of reaching stage s, from a profile's (defaulted) deadlines.
func deadlineOf(d podmgr.StageDeadlines, s Stage) time.Duration {
	secs := map[Stage]int{StageBootloader: d.Bootloader, StageScript: d.Script, StageKernel: d.Kernel, StageAgent: d.Agent,
		StageStage2: d.Stage2, StageKickstart: d.Kickstart, StageInstalled: d.Installed}[s]
	return time.Duration(secs) * time.Second
}

// RunDeadlines checks the stage deadlines every interval until ctx ends. Every replica
// may run it: the failing write is conditional (Manager.FailStuck), so a host is failed
// once.
func (s *Service) RunDeadlines(ctx context.Context, every time.Duration, log *slog.Logger) error {
	if every <= 0 {
		every = DefaultDeadlineEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := s.CheckDeadlines(ctx, log)
		if err != nil && ctx.Err() == nil {
			log.Warn("stage deadline check", "err", err)
		}
		if n > 0 {
			log.Info("stage deadlines missed", "hosts", n)
		}
	}
}

// CheckDeadlines fails every host that has been stuck in a stage longer than its
// profile allows, and returns how many it failed. Candidates are the hosts in the
// middle of a provision that have been quiet for the shortest deadline of any profile;
// only their events are read.
func (s *Service) CheckDeadlines(ctx context.Context, log *slog.Logger) (int, error) {
	now := s.now()
	floor := podmgr.StageDeadlines{}.WithDefaults().Min()
	for _, p := range s.mgr.Profiles() {
		floor = min(floor, p.Deadlines.WithDefaults().Min())
	}
	reg := s.mgr.Registry()
	failed := 0
	for _, h := range reg.IdleHosts(now.Add(-floor)) {
		if ctx.Err() != nil {
			return failed, ctx.Err()
		}
		prof, _ := reg.EffectiveProfile(h)
		reason, stuck, err := s.overdue(ctx, h, prof.Deadlines.WithDefaults(), now)
		if err != nil {
			return failed, err
		}
		if reason == "" {
			continue
		}
		ok, err := s.mgr.FailStuck(ctx, h, ActionDeadline, reason)
		if err != nil {
			return failed, err
		}
		if ok {
			failed++
			if s.metrics != nil {
				s.metrics.deadline(h.Pod, stuck)
			}
			log.Warn("host missed a stage deadline", "pod", h.Pod, "host", h.MAC, "stage", stuck, "reason", reason)
		}
	}
	return failed, nil
}

// overdue returns why h is overdue (and the stage it is stuck in), or "" when it is not.
func (s *Service) overdue(ctx context.Context, h podmgr.Host, d podmgr.StageDeadlines, now time.Time) (string, Stage, error) {
	evs, err := s.mgr.HostEvents(ctx, h.MAC)
	if err != nil {
		if podmgr.IsNotFound(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("deadline check of host %s: %w", h.MAC, err)
	}
	ts := Timelines(evs)
	if len(ts) == 0 || ts[len(ts)-1].Outcome != OutcomeInProgress {
		return "", "", nil
	}
	t := ts[len(ts)-1]
	last, next := t.Last(), t.Next()
	limit := deadlineOf(d, next)
	if next == "" || now.Sub(last.At) <= limit {
		return "", "", nil
	}
	return fmt.Sprintf("stage deadline: stuck in %s: %s not reached within %s of %s (at %s)",
		next, next, limit, last.Stage, last.At.UTC().Format(time.RFC3339)), next, nil
}
