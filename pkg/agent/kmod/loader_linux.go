package kmod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Index files the stage1 builder writes beside the modules.
const (
	AliasFile   = "modules.alias"
	DepFile     = "modules.dep"
	SoftdepFile = "modules.softdep"
)

// Loader loads the modules of a flat directory (NAME.ko) by hardware: what the
// modalias of each device matches, with its dependencies, as udev and modprobe would.
// Independent modules load concurrently, as udev's workers load them: a driver whose
// probe sleeps (a controller reset, an ATA link debounce, a SCSI scan) does not hold
// up the others. A driver loaded for a device (or by name) probes synchronously:
// finit_module returns once it has probed its devices and scanned its buses, so a
// quiet moment after the last load means the disks are there. A module loaded as a
// dependency (a library: scsi_mod, libata, the CRCs) is loaded with async_probe, so
// that it does not wait for other drivers' background work. It is safe for
// concurrent use.
type Loader struct {
	dir   string
	tab   *Table
	finit FinitFunc
	start time.Time // Timings count from here

	mu       sync.Mutex
	mods     map[string]*modState
	loaded   []string // in load order
	devices  map[string]Device
	last     time.Time // when the last module loaded
	lastBind time.Time // when the kernel last bound a driver to a device (uevent)
	timings  Timings
	inflight int           // background loads under way (Coldplug, Watch)
	changed  chan struct{} // closed and replaced when a load ends
	changeAt time.Time     // when changed was last closed
}

// FinitFunc loads one module file. noWait sets the module's async_probe parameter:
// the kernel then does not make the call wait for every asynchronous job in the system
// (do_init_module's async_synchronize_full: another driver's disk scan or NVMe reset),
// and any probe of the module's own runs in the background.
type FinitFunc func(path string, noWait bool) error

// companions are modules to start loading, in the background, as soon as a module
// has loaded, because the devices it creates will need them: every disk behind a
// SCSI host (AHCI, SAS, RAID, virtio-scsi) binds to sd_mod, and loading it and its
// CRC dependencies while the host resets its links and scans (sleeping, under QEMU
// TCG for seconds) takes it off the path to "disks bound". A host with no disk
// behind it loads sd_mod for nothing (about 100 kB).
var companions = map[string][]string{"scsi_mod": {"sd_mod"}}

// modState is one module's load, started once; done is closed when err is final.
type modState struct {
	done chan struct{}
	err  error
}

// Device is one device coldplug looked at.
type Device struct {
	Path     string // e.g. /sys/bus/pci/devices/0000:00:02.0
	Modalias string
	Modules  []string // what its modalias matched
}

// OpenLoader reads the index files in dir (modules.softdep may be missing).
func OpenLoader(dir string) (*Loader, error) {
	start := time.Now()
	var r [3]io.Reader
	for i, name := range []string{AliasFile, DepFile, SoftdepFile} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			if name == SoftdepFile && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("open module index: %w", err)
		}
		defer f.Close()
		r[i] = f
	}
	tab, err := ReadTable(r[0], r[1], r[2])
	if err != nil {
		return nil, fmt.Errorf("read module index in %s: %w", dir, err)
	}
	l, err := NewLoader(dir, tab, nil)
	if err != nil {
		return nil, fmt.Errorf("module index in %s: %w", dir, err)
	}
	l.start = start
	l.timings.Table = time.Since(start)
	return l, nil
}

// NewLoader returns a loader of the modules in dir described by tab. finit loads one
// module file (nil: finit_module; tests pass their own, as loading a module into the
// test machine's kernel is not something a test may do). A table whose dependencies
// or pre: soft dependencies form a cycle is refused: concurrent loads would wait on
// each other.
func NewLoader(dir string, tab *Table, finit FinitFunc) (*Loader, error) {
	if err := tab.checkCycles(); err != nil {
		return nil, err
	}
	if finit == nil {
		finit = finitModule
	}
	return &Loader{dir: dir, tab: tab, finit: finit, start: time.Now(), mods: map[string]*modState{},
		devices: map[string]Device{}, changed: make(chan struct{})}, nil
}

// LastLoad returns when the last module finished loading (zero: none yet).
func (l *Loader) LastLoad() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Settled returns when the hardware last changed: the last module loaded or, later,
// the last driver the kernel bound to a device (drivers that probe asynchronously,
// such as sd_mod, bind after finit_module returns).
func (l *Loader) Settled() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastBind.After(l.last) {
		return l.lastBind
	}
	return l.last
}

// Table returns the loader's alias and dependency table.
func (l *Loader) Table() *Table { return l.tab }

// Timings returns where loading spent its time so far.
func (l *Loader) Timings() Timings {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.timings
	t.Loads = slices.Clone(t.Loads)
	return t
}

// Load loads a module (a name, or an alias as the kernel's request_module passes
// it) with its dependencies and soft dependencies, and waits for its devices to be
// probed. Already loaded is no error.
func (l *Loader) Load(name string) error {
	mods := []string{Canonical(name)}
	if !l.tab.Has(name) {
		if mods = l.tab.Match(name); len(mods) == 0 {
			return fmt.Errorf("module %s: not in this initrd", name)
		}
	}
	errs := make([]error, len(mods))
	l.parallel(mods, func(i int, m string) { errs[i] = l.load(m, nil, false) })
	return errors.Join(errs...)
}

// parallel runs fn for each name in its own goroutine and waits for all of them.
func (l *Loader) parallel(names []string, fn func(i int, name string)) {
	if len(names) == 1 {
		fn(0, names[0])
		return
	}
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, n)
		}()
	}
	wg.Wait()
}

// load loads m once: after its dependencies and pre: soft dependencies, which load
// concurrently; a caller that finds m being loaded waits for that load. stack guards
// against cycles within one chain (NewLoader refused cycles across chains).
func (l *Loader) load(m string, stack []string, dep bool) error {
	if slices.Contains(stack, m) {
		return fmt.Errorf("module dependency cycle through %s", m)
	}
	l.mu.Lock()
	st, started := l.mods[m]
	if !started {
		st = &modState{done: make(chan struct{})}
		l.mods[m] = st
	}
	l.mu.Unlock()
	if started {
		<-st.done
		return st.err
	}
	st.err = l.loadOnce(m, append(stack, m), dep)
	l.mu.Lock()
	if st.err == nil {
		l.loaded = append(l.loaded, m)
		l.last = time.Now()
	}
	l.notifyLocked()
	l.mu.Unlock()
	close(st.done)
	if st.err == nil {
		var next []string
		for _, c := range companions[m] {
			if l.tab.Has(c) {
				next = append(next, c)
			}
		}
		l.startLoads(next)
	}
	// Post soft dependencies load after m and are optional: m is done without them.
	for _, s := range l.tab.SoftPost[m] {
		l.loadSoft(s, nil)
	}
	return st.err
}

func (l *Loader) loadOnce(m string, stack []string, dep bool) error {
	deps := l.tab.Deps[m]
	errs := make([]error, len(deps))
	l.parallel(slices.Concat(deps, l.tab.SoftPre[m]), func(i int, d string) {
		if i < len(deps) {
			errs[i] = l.load(d, stack, true)
			return
		}
		l.loadSoft(d, stack)
	})
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("dependency %s: %w", deps[i], err)
		}
	}
	t0 := time.Since(l.start)
	err := l.finit(filepath.Join(l.dir, m+".ko"), dep)
	l.mu.Lock()
	l.timings.Loads = append(l.timings.Loads, ModuleLoad{Name: m, Start: t0, End: time.Since(l.start)})
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("finit_module %s: %w", m, err)
	}
	return nil
}

// loadSoft loads a soft dependency, a module or an alias (ext4 names
// crypto-crc32c): optional, so failures are only recorded.
func (l *Loader) loadSoft(name string, stack []string) {
	mods := []string{name}
	if !l.tab.Has(name) {
		mods = l.tab.Match(name)
	}
	l.parallel(mods, func(_ int, m string) { _ = l.load(m, stack, true) })
}

// notifyLocked wakes whoever waits for a change (Coldplug). Callers hold mu.
func (l *Loader) notifyLocked() {
	l.changeAt = time.Now()
	close(l.changed)
	l.changed = make(chan struct{})
}

// Loaded returns the modules loaded so far, in order.
func (l *Loader) Loaded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.loaded)
}

// Failed returns why a module could not be loaded (nil: it loaded, is loading or was
// not tried).
func (l *Loader) Failed(m string) error {
	l.mu.Lock()
	st, ok := l.mods[m]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-st.done:
		return st.err
	default:
		return nil
	}
}

// Devices returns every device seen, by sysfs path.
func (l *Loader) Devices() map[string]Device {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Device, len(l.devices))
	for k, v := range l.devices {
		out[k] = v
	}
	return out
}
