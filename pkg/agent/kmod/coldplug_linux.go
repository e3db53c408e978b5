package kmod

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// newDevice records a device not seen before and returns what its modalias matches;
// seen is false when the device was known already.
func (l *Loader) newDevice(sysRoot, bus, name, modalias string) (mods []string, isNew bool) {
	key := filepath.Join(sysRoot, "bus", bus, "devices", name)
	l.mu.Lock()
	_, seen := l.devices[key]
	if !seen {
		l.devices[key] = Device{Path: key, Modalias: modalias} // claimed; modules below
	}
	l.mu.Unlock()
	if seen || modalias == "" {
		return nil, !seen
	}
	t0 := time.Now()
	mods = l.tab.Match(modalias)
	l.mu.Lock()
	l.timings.Match += time.Since(t0)
	l.devices[key] = Device{Path: key, Modalias: modalias, Modules: mods}
	l.mu.Unlock()
	return mods, true
}

// scan looks at every /sys/bus/*/devices/*/modalias under sysRoot, PCI first (the
// NICs and storage controllers, whose drivers take longest), and calls each with the
// modules every device not seen before needs, as it finds it (so that loading starts
// before the scan ends); n is how many such devices it found.
func (l *Loader) scan(sysRoot string, each func(mods []string)) (n int) {
	pci := filepath.Join(sysRoot, "bus", "pci", "devices", "*", "modalias")
	for pass, pattern := range []string{pci, filepath.Join(sysRoot, "bus", "*", "devices", "*", "modalias")} {
		t0 := time.Now()
		paths, _ := filepath.Glob(pattern)
		l.mu.Lock()
		l.timings.Scan += time.Since(t0)
		l.mu.Unlock()
		for _, p := range paths {
			dev := filepath.Dir(p)
			bus := filepath.Base(filepath.Dir(filepath.Dir(dev)))
			l.mu.Lock()
			_, seen := l.devices[filepath.Join(sysRoot, "bus", bus, "devices", filepath.Base(dev))]
			l.mu.Unlock()
			if seen || pass == 1 && bus == "pci" {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			alias := strings.TrimSpace(string(b))
			if alias == "" {
				continue
			}
			if m, isNew := l.newDevice(sysRoot, bus, filepath.Base(dev), alias); isNew {
				n++
				each(m)
			}
		}
	}
	l.mu.Lock()
	l.timings.Rounds++
	l.mu.Unlock()
	return n
}

// Round looks at every device not seen before and loads what each matches,
// concurrently, and waits for those loads. It returns how many new devices it found.
func (l *Loader) Round(sysRoot string) int {
	var mods []string
	n := l.scan(sysRoot, func(m []string) { mods = append(mods, m...) })
	l.parallel(mods, func(_ int, m string) { _ = l.load(m, nil, false) }) // failures: Failed
	return n
}

// startLoads loads modules in the background, counted in inflight until they end.
func (l *Loader) startLoads(mods []string) {
	if len(mods) == 0 {
		return
	}
	l.mu.Lock()
	l.inflight++
	l.mu.Unlock()
	go func() {
		l.parallel(mods, func(_ int, m string) { _ = l.load(m, nil, false) })
		l.mu.Lock()
		l.inflight--
		l.notifyLocked()
		l.mu.Unlock()
	}()
}

// handle acts on one uevent: a new device's drivers start loading, a bind is noted.
// It reports whether the hardware changed.
func (l *Loader) handle(sysRoot string, e Uevent) bool {
	switch e.Action {
	case "add":
		if e.Modalias == "" || e.Subsystem == "" {
			return false
		}
		mods, isNew := l.newDevice(sysRoot, e.Subsystem, e.Name(), e.Modalias)
		l.mu.Lock()
		l.timings.Events++
		l.mu.Unlock()
		l.startLoads(mods)
		return isNew
	case "bind":
		l.mu.Lock()
		l.timings.Events++
		l.lastBind = time.Now()
		l.mu.Unlock()
		return true
	}
	return false
}

// Coldplug loads the drivers of the devices present and of the devices those drivers
// create (virtio_pci the virtio devices, an HBA its SCSI disks), until no load is
// under way and the hardware has not changed for quiet, or ctx ends. With ev it scans
// sysfs once and then follows the kernel's uevents, loading concurrently; without (no uevent socket), it rescans sysfs every 50 ms.
func (l *Loader) Coldplug(ctx context.Context, sysRoot string, quiet time.Duration, ev *Uevents) {
	if ev == nil {
		l.pollColdplug(ctx, sysRoot, quiet)
		return
	}
	l.scan(sysRoot, l.startLoads)
	last := time.Now()
	timer := time.NewTimer(quiet)
	defer timer.Stop()
	for {
		l.mu.Lock()
		changed, busy := l.changed, l.inflight > 0
		if l.changeAt.After(last) { // a load ended while the timer fired
			last = l.changeAt
		}
		l.mu.Unlock()
		wait := quiet - time.Since(last)
		if wait <= 0 && !busy {
			// Quiet and idle, unless an event or a load's end is already queued.
			select {
			case e, ok := <-ev.C:
				if ok && l.handle(sysRoot, e) {
					last = time.Now()
				}
				continue
			case <-changed:
				last = time.Now()
				continue
			default:
				return
			}
		}
		if wait <= 0 {
			wait = quiet
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ev.C:
			if !ok {
				l.pollColdplug(ctx, sysRoot, quiet)
				return
			}
			if l.handle(sysRoot, e) {
				last = time.Now()
			}
		case <-changed:
			last = time.Now()
		case <-timer.C:
		}
	}
}

// pollColdplug repeats Round until no new device has appeared for quiet.
func (l *Loader) pollColdplug(ctx context.Context, sysRoot string, quiet time.Duration) {
	last := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if l.Round(sysRoot) > 0 {
			last = time.Now()
		}
		if time.Since(last) >= quiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Watch keeps loading drivers for new devices until ctx ends (hotplug: devices that
// appear late, e.g. SCSI disks behind a slow HBA), from ev's uevents, or by polling
// sysfs every interval without ev (or once ev stops). It closes ev when it returns.
func (l *Loader) Watch(ctx context.Context, sysRoot string, every time.Duration, ev *Uevents) {
	if ev != nil {
		defer ev.Close()
		if l.follow(ctx, sysRoot, ev) {
			return
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.Round(sysRoot)
		}
	}
}

// follow handles ev's uevents until ctx ends (true) or ev stops (false).
func (l *Loader) follow(ctx context.Context, sysRoot string, ev *Uevents) bool {
	for {
		select {
		case <-ctx.Done():
			return true
		case e, ok := <-ev.C:
			if !ok {
				return false
			}
			l.handle(sysRoot, e)
		}
	}
}
