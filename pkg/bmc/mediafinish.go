package bmc

import (
	"context"

	"github.com/podboot/podboot/pkg/podmgr"
)

// finishActor is who ejects the media after a virtual-media install, in the audit log.
var finishActor = podmgr.Actor{Name: "virtual-media", Source: "podboot"}

// FinishOnProvisioned subscribes to host events now and, until ctx ends, when a host
// whose ISO pub still has out reports provisioned (the agent's `installed`), ejects the
// media, clears the boot override and withdraws the ISO (FinishVirtualMedia). The
// returned function waits for it to end. Events come from the manager's in-process
// feed, which drops events for a subscriber that falls 256 behind: such a host keeps
// its media until the ISO's window ends (its URL then answers 404).
func (s *Service) FinishOnProvisioned(ctx context.Context, pub ISOPublisher) (wait func()) {
	evs, stop := s.mgr.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stop()
		s.finishLoop(ctx, evs, pub)
	}()
	return func() { <-done }
}

func (s *Service) finishLoop(ctx context.Context, evs <-chan podmgr.Event, pub ISOPublisher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-evs:
			if e.State != podmgr.StateProvisioned || e.MAC == "" || !pub.HasISO(e.MAC) {
				continue
			}
			if err := s.FinishVirtualMedia(ctx, finishActor, e.MAC, pub); err != nil {
				s.log.Warn("finish virtual media after install", "host", e.MAC, "pod", e.Pod, "error", err)
			}
		}
	}
}
