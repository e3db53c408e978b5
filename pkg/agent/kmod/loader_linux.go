package kmod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
// It is safe for concurrent use.
type Loader struct {
	dir   string
	tab   *Table
	finit func(path string) error

	mu      sync.Mutex
	loaded  []string         // in load order
	failed  map[string]error // module -> why it did not load
	devices map[string]Device
	last    time.Time // when the last module loaded
}

// Device is one device coldplug looked at.
type Device struct {
	Path     string // e.g. /sys/bus/pci/devices/0000:00:02.0
	Modalias string
	Modules  []string // what its modalias matched
}

// OpenLoader reads the index files in dir (modules.softdep may be missing).
func OpenLoader(dir string) (*Loader, error) {
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
	return NewLoader(dir, tab, nil), nil
}

// NewLoader returns a loader of the modules in dir described by tab. finit loads one
// module file (nil: finit_module; tests pass their own, as loading a module into the
// test machine's kernel is not something a test may do).
func NewLoader(dir string, tab *Table, finit func(path string) error) *Loader {
	if finit == nil {
		finit = load
	}
	return &Loader{dir: dir, tab: tab, finit: finit, failed: map[string]error{}, devices: map[string]Device{}}
}

// LastLoad returns when the last module finished loading (zero: none yet).
func (l *Loader) LastLoad() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Table returns the loader's alias and dependency table.
func (l *Loader) Table() *Table { return l.tab }

// Load loads a module (a name, or an alias as the kernel's request_module passes
// it) with its dependencies and soft dependencies. Already loaded is no error.
func (l *Loader) Load(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	mods := []string{Canonical(name)}
	if !l.tab.Has(name) {
		if mods = l.tab.Match(name); len(mods) == 0 {
			return fmt.Errorf("module %s: not in this initrd", name)
		}
	}
	var errs []error
	for _, m := range mods {
		errs = append(errs, l.load(m, nil))
	}
	return errors.Join(errs...)
}

// load loads m after its dependencies; stack guards against cycles. Callers hold mu.
func (l *Loader) load(m string, stack []string) error {
	if slices.Contains(l.loaded, m) {
		return nil
	}
	if err, ok := l.failed[m]; ok {
		return err
	}
	if slices.Contains(stack, m) {
		return fmt.Errorf("module dependency cycle through %s", m)
	}
	stack = append(stack, m)
	for _, s := range l.tab.SoftPre[m] {
		l.loadSoft(s, stack)
	}
	for _, d := range l.tab.Deps[m] {
		if err := l.load(d, stack); err != nil {
			err = fmt.Errorf("dependency %s: %w", d, err)
			l.failed[m] = err
			return err
		}
	}
	if err := l.finit(filepath.Join(l.dir, m+".ko")); err != nil {
		err = fmt.Errorf("finit_module %s: %w", m, err)
		l.failed[m] = err
		return err
	}
	l.loaded = append(l.loaded, m)
	l.last = time.Now()
	for _, s := range l.tab.SoftPost[m] {
		l.loadSoft(s, stack)
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
	for _, m := range mods {
		_ = l.load(m, stack)
	}
}

// Loaded returns the modules loaded so far, in order.
func (l *Loader) Loaded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.loaded)
}

// Failed returns why a module could not be loaded (nil: it loaded or was not tried).
func (l *Loader) Failed(m string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed[m]
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

// Round looks at every /sys/bus/*/devices/*/modalias under sysRoot not seen before
// and loads what each matches. It returns how many new devices it found.
func (l *Loader) Round(sysRoot string) int {
	paths, _ := filepath.Glob(filepath.Join(sysRoot, "bus", "*", "devices", "*", "modalias"))
	n := 0
	for _, p := range paths {
		dev := filepath.Dir(p)
		l.mu.Lock()
		_, seen := l.devices[dev]
		l.mu.Unlock()
		if seen {
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
		n++
		mods := l.tab.Match(alias)
		l.mu.Lock()
		l.devices[dev] = Device{Path: dev, Modalias: alias, Modules: mods}
		for _, m := range mods {
			_ = l.load(m, nil) // recorded in failed for the diagnosis
		}
		l.mu.Unlock()
	}
	return n
}

// Coldplug repeats Round until no new device has appeared for quiet (drivers create
// devices: virtio_pci the virtio devices, an HBA its SCSI disks, asynchronously), or
// until ctx ends.
func (l *Loader) Coldplug(ctx context.Context, sysRoot string, quiet time.Duration) {
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

// Watch keeps loading drivers for new devices until ctx ends (hotplug by polling:
// devices that appear late, e.g. SCSI disks behind a slow HBA).
func (l *Loader) Watch(ctx context.Context, sysRoot string, every time.Duration) {
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
