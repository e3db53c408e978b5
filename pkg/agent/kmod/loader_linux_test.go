package kmod

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSys is a /sys tree with devices that have a modalias; a driver "creates" more
// devices when it loads, as virtio_pci and an HBA do.
type fakeSys struct {
	t    *testing.T
	root string
}

func (f fakeSys) add(bus, dev, alias string) {
	d := filepath.Join(f.root, "bus", bus, "devices", dev)
	if err := os.MkdirAll(d, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "modalias"), []byte(alias+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func testTable() *Table {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "virtio_ring"}, {Name: "virtio", Depends: []string{"virtio_ring"}},
		{Name: "virtio_pci", Depends: []string{"virtio"}, Aliases: []string{"pci:v00001AF4d*sv*sd*bc*sc*i*"}},
		{Name: "virtio_scsi", Depends: []string{"virtio"}, Aliases: []string{"virtio:d00000008v*"}},
		{Name: "sd_mod", Aliases: []string{"scsi:t-0x00*"}},
		{Name: "realtek"},
		{Name: "r8169", SoftPre: []string{"realtek"}, Aliases: []string{"pci:v000010ECd00008168sv*sd*bc*sc*i*"}},
		{Name: "mlx4_core", Aliases: []string{"pci:v000015B3d00001003sv*sd*bc*sc*i*"}},
		{Name: "mlx4_en", Depends: []string{"mlx4_core"}},
		{Name: "broken", Aliases: []string{"pci:v0000BEEFd*sv*sd*bc*sc*i*"}},
		{Name: "crc32c_generic", Aliases: []string{"crypto-crc32c", "crc32c"}},
		{Name: "jbd2", SoftPre: []string{"crypto-crc32c"}},
		{Name: "ext4", Depends: []string{"jbd2"}, SoftPre: []string{"crypto-crc32c"}, Aliases: []string{"fs-ext4"}},
	} {
		tab.Add(info)
	}
	return tab
}

// recorder is a fake finit_module: it records the loads (concurrent callers) and lets
// a test act when a module loads (a driver creating devices, failing).
type recorder struct {
	mu     sync.Mutex
	order  []string
	noWait map[string]bool
	onLoad func(m string) error
}

func (r *recorder) finit(p string, noWait bool) error {
	m := Canonical(p)
	r.mu.Lock()
	r.order = append(r.order, m)
	if r.noWait == nil {
		r.noWait = map[string]bool{}
	}
	r.noWait[m] = noWait
	r.mu.Unlock()
	if r.onLoad != nil {
		return r.onLoad(m)
	}
	return nil
}

func (r *recorder) loads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// checkOrder fails when a module was loaded twice or before a dependency or a pre:
// soft dependency that was loaded too.
func checkOrder(t *testing.T, tab *Table, order []string) {
	t.Helper()
	pos := map[string]int{}
	for i, m := range order {
		if _, dup := pos[m]; dup {
			t.Fatalf("%s loaded twice: %v", m, order)
		}
		pos[m] = i
	}
	for m, i := range pos {
		for _, d := range slices.Concat(tab.Deps[m], tab.SoftPre[m]) {
			for _, dm := range append(tab.Match(d), d) {
				if j, ok := pos[dm]; ok && j > i {
					t.Fatalf("%s loaded before its dependency %s: %v", m, dm, order)
				}
			}
		}
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestColdplugRounds: devices created by a driver get their drivers in a later
// round; dependencies and softdeps load first; a failing driver is recorded, not fatal.
func TestColdplugRounds(t *testing.T) {
	sys := fakeSys{t, t.TempDir()}
	sys.add("pci", "0000:00:02.0", "pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00")
	sys.add("pci", "0000:00:03.0", "pci:v000010ECd00008168sv000010ECsd00008168bc02sc00i00")
	sys.add("pci", "0000:00:04.0", "pci:v0000BEEFd00000001sv00000000sd00000000bc02sc00i00")
	sys.add("pci", "0000:00:1f.0", "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00")
	rec := &recorder{onLoad: func(m string) error {
		switch m {
		case "virtio_pci":
			sys.add("virtio", "virtio0", "virtio:d00000008v00001AF4")
		case "virtio_scsi":
			sys.add("scsi", "0:0:0:0", "scsi:t-0x00")
		case "broken":
			return errors.New("no such device")
		}
		return nil
	}}
	tab := testTable()
	l, err := NewLoader("/lib/modules/podboot", tab, rec.finit)
	if err != nil {
		t.Fatal(err)
	}
	rounds := 0
	for l.Round(sys.root) > 0 {
		rounds++
	}
	want := []string{"broken", "r8169", "realtek", "sd_mod", "virtio", "virtio_pci", "virtio_ring", "virtio_scsi"}
	if got := rec.loads(); !slices.Equal(sorted(got), want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	checkOrder(t, tab, rec.loads())
	// Drivers for devices probe synchronously; libraries and soft dependencies do not
	// wait for others' background work.
	for m, want := range map[string]bool{"virtio_pci": false, "virtio_scsi": false, "sd_mod": false, "r8169": false, "virtio": true, "virtio_ring": true, "realtek": true} {
		if rec.noWait[m] != want {
			t.Errorf("%s loaded with async_probe=%v, want %v", m, rec.noWait[m], want)
		}
	}
	if rounds != 3 {
		t.Errorf("%d rounds, want 3 (PCI, virtio, SCSI)", rounds)
	}
	if err := l.Failed("broken"); err == nil || !strings.Contains(err.Error(), "no such device") {
		t.Errorf("Failed(broken) = %v", err)
	}
	if slices.Contains(l.Loaded(), "broken") || len(l.Devices()) != 6 {
		t.Errorf("loaded %v devices %d", l.Loaded(), len(l.Devices()))
	}
	if tm := l.Timings(); len(tm.Loads) != 8 || tm.Rounds != 4 {
		t.Errorf("timings: %d loads, %d rounds; want 8 and 4", len(tm.Loads), tm.Rounds)
	}
	// The kernel's request_module("mlx4_en"): loaded with its dependency; an unknown
	// name is a clear error.
	rec.order = nil
	if err := l.Load("mlx4_en"); err != nil || !slices.Equal(rec.loads(), []string{"mlx4_core", "mlx4_en"}) {
		t.Fatalf("Load(mlx4_en) = %v, loaded %v", err, rec.loads())
	}
	// The mount's request_module("fs-ext4"): ext4 with its dependency and the crc32c
	// its soft dependency names by alias.
	rec.order = nil
	if err := l.Load("fs-ext4"); err != nil || !slices.Equal(rec.loads(), []string{"crc32c_generic", "jbd2", "ext4"}) {
		t.Fatalf("Load(fs-ext4) = %v, loaded %v", err, rec.loads())
	}
	if err := l.Load("net-pf-10"); err == nil || !strings.Contains(err.Error(), "not in this initrd") {
		t.Fatalf("Load(net-pf-10) = %v", err)
	}
}

// TestColdplugUevents: with the kernel's uevents, coldplug scans sysfs once, loads
// the drivers of the devices the events announce, waits for loads under way, and
// counts a driver's bind as the hardware settling.
func TestColdplugUevents(t *testing.T) {
	sys := fakeSys{t, t.TempDir()}
	sys.add("pci", "0000:00:02.0", "pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00")
	ch := make(chan Uevent, 16)
	ev := &Uevents{C: ch, done: make(chan struct{})}
	slow := make(chan struct{})
	rec := &recorder{onLoad: func(m string) error {
		switch m {
		case "virtio_pci": // the kernel announces the device virtio_pci creates
			ch <- Uevent{Action: "add", DevPath: "/devices/pci0000:00/0000:00:02.0/virtio0", Subsystem: "virtio", Modalias: "virtio:d00000008v00001AF4"}
			ch <- Uevent{Action: "bind", DevPath: "/devices/pci0000:00/0000:00:02.0", Subsystem: "pci", Driver: "virtio-pci"}
		case "virtio_scsi":
			ch <- Uevent{Action: "add", DevPath: "/devices/pci0000:00/0000:00:02.0/virtio0/host0/target0:0:0/0:0:0:0", Subsystem: "scsi", Modalias: "scsi:t-0x00"}
			ch <- Uevent{Action: "add", DevPath: "/devices/virtual/block/loop0", Subsystem: "block"} // no modalias: ignored
		case "sd_mod":
			<-slow // a load that outlasts the quiet period
			ch <- Uevent{Action: "bind", DevPath: "/devices/pci0000:00/0000:00:02.0/virtio0/host0/target0:0:0/0:0:0:0", Subsystem: "scsi", Driver: "sd"}
		}
		return nil
	}}
	tab := testTable()
	l, err := NewLoader("/lib/modules/podboot", tab, rec.finit)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // longer than the quiet period below
		close(slow)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	l.Coldplug(ctx, sys.root, 100*time.Millisecond, ev)
	if ctx.Err() != nil {
		t.Fatal("coldplug did not end")
	}
	want := []string{"sd_mod", "virtio", "virtio_pci", "virtio_ring", "virtio_scsi"}
	if got := rec.loads(); !slices.Equal(sorted(got), want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	checkOrder(t, tab, rec.loads())
	tm := l.Timings()
	if tm.Rounds != 1 || tm.Events != 4 {
		t.Errorf("%d sysfs scans and %d events handled, want 1 and 4", tm.Rounds, tm.Events)
	}
	if s := l.Settled(); s.Before(l.LastLoad()) || s.Sub(start) < 250*time.Millisecond {
		t.Errorf("settled %v after start, last load %v: want the end of the slow load or the sd bind", s.Sub(start), l.LastLoad().Sub(start))
	}
	if _, ok := l.Devices()[filepath.Join(sys.root, "bus/scsi/devices/0:0:0:0")]; !ok {
		t.Errorf("devices %v: no SCSI disk", l.Devices())
	}
	// Hotplug afterwards: Watch loads the driver of a late device, then closes ev.
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Watch(wctx, sys.root, time.Hour, ev); close(done) }()
	ch <- Uevent{Action: "add", DevPath: "/devices/pci0000:00/0000:00:05.0", Subsystem: "pci", Modalias: "pci:v000015B3d00001003sv000015B3sd00000001bc02sc00i00"}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(l.Loaded(), "mlx4_core") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if !slices.Contains(l.Loaded(), "mlx4_core") {
		t.Fatalf("hotplugged device: loaded %v", l.Loaded())
	}
	select {
	case <-ev.done:
	default:
		t.Error("Watch did not close the uevents")
	}
}

// TestConcurrentLoads: independent modules load at the same time (a driver whose
// probe sleeps does not hold up the next one); a dependency they share loads once,
// before both.
func TestConcurrentLoads(t *testing.T) {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "scsi_mod"},
		{Name: "ahci", Depends: []string{"scsi_mod"}, Aliases: []string{"pci:v*d*sv*sd*bc01sc06i01*"}},
		{Name: "megaraid_sas", Depends: []string{"scsi_mod"}, Aliases: []string{"pci:v00001000d00000060sv*sd*bc*sc*i*"}},
	} {
		tab.Add(info)
	}
	started := make(chan string, 2)
	release := make(chan struct{})
	rec := &recorder{onLoad: func(m string) error {
		if m == "scsi_mod" {
			return nil
		}
		started <- m
		<-release
		return nil
	}}
	sys := fakeSys{t, t.TempDir()}
	sys.add("pci", "0000:00:04.0", "pci:v00001000d00000060sv00001000sd00001013bc01sc04i00")
	sys.add("pci", "0000:00:1f.2", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01")
	l, err := NewLoader("/x", tab, rec.finit)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() { done <- l.Round(sys.root) }()
	var both []string
	for range 2 {
		select {
		case m := <-started:
			both = append(both, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %v in finit_module at once; want ahci and megaraid_sas together", both)
		}
	}
	close(release)
	if n := <-done; n != 2 {
		t.Errorf("Round found %d devices, want 2", n)
	}
	if got := rec.loads(); len(got) != 3 || got[0] != "scsi_mod" {
		t.Errorf("loads %v: want scsi_mod once, first", got)
	}
}

// TestCompanions: once scsi_mod has loaded for a SCSI host, sd_mod (with its
// dependencies) loads in the background, before any disk appears.
func TestCompanions(t *testing.T) {
	tab := NewTable()
	for _, info := range []Info{
		{Name: "scsi_mod"}, {Name: "t10_pi"},
		{Name: "megaraid_sas", Depends: []string{"scsi_mod"}, Aliases: []string{"pci:v00001000d00000060sv*sd*bc*sc*i*"}},
		{Name: "sd_mod", Depends: []string{"scsi_mod", "t10_pi"}, Aliases: []string{"scsi:t-0x00*"}},
	} {
		tab.Add(info)
	}
	rec := &recorder{}
	sys := fakeSys{t, t.TempDir()}
	sys.add("pci", "0000:00:04.0", "pci:v00001000d00000060sv00001000sd00001013bc01sc04i00")
	l, err := NewLoader("/x", tab, rec.finit)
	if err != nil {
		t.Fatal(err)
	}
	l.Round(sys.root)
	for deadline := time.Now().Add(10 * time.Second); len(rec.loads()) < 4 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := sorted(rec.loads()); !slices.Equal(got, []string{"megaraid_sas", "scsi_mod", "sd_mod", "t10_pi"}) {
		t.Fatalf("loaded %v, want the host's driver and sd_mod", got)
	}
	checkOrder(t, tab, rec.loads())
}

// TestCycleRefused: a table whose modules wait on each other is refused instead of
// deadlocking the concurrent loads.
func TestCycleRefused(t *testing.T) {
	tests := []struct {
		name  string
		infos []Info
		err   bool
	}{
		{"no cycle", []Info{{Name: "a", Depends: []string{"b"}}, {Name: "b"}}, false},
		{"dependency cycle", []Info{{Name: "a", Depends: []string{"b"}}, {Name: "b", Depends: []string{"a"}}}, true},
		{"soft pre cycle by alias", []Info{{Name: "a", SoftPre: []string{"crypto-b"}}, {Name: "b", Depends: []string{"a"}, Aliases: []string{"crypto-b"}}}, true},
		{"post softdep back is fine", []Info{{Name: "a", SoftPost: []string{"b"}}, {Name: "b", Depends: []string{"a"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := NewTable()
			for _, i := range tt.infos {
				tab.Add(i)
			}
			_, err := NewLoader("/x", tab, (&recorder{}).finit)
			if (err != nil) != tt.err {
				t.Fatalf("NewLoader error %v, want error %v", err, tt.err)
			}
		})
	}
}

// TestOpenLoader reads the index files as the stage1 builder writes them; an initrd
// without modules.softdep still loads, one without modules.alias is an error (the
// agent then loads every module).
func TestOpenLoader(t *testing.T) {
	dir := t.TempDir()
	tab := testTable()
	for name, write := range map[string]func(io.Writer) error{AliasFile: tab.WriteAlias, DepFile: tab.WriteDep} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	l, err := OpenLoader(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Table().Match("scsi:t-0x00"); !slices.Equal(got, []string{"sd_mod"}) {
		t.Fatalf("Match = %v", got)
	}
	os.Remove(filepath.Join(dir, AliasFile))
	if _, err := OpenLoader(dir); err == nil {
		t.Fatal("no error without modules.alias")
	}
}
