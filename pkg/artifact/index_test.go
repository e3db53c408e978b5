package artifact

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestResolveNewest: a bare name resolves to the newest version through every add and
// delete, and after a reopen (the index is rebuilt from the records).
func TestResolveNewest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type op struct {
		del     bool
		version string
		at      int // seconds after t0 (ingest only)
	}
	tests := []struct {
		name string
		ops  []op
		want string // "" when the name resolves to nothing
	}{
		{"one version", []op{{version: "1", at: 1}}, "1"},
		{"newest after add", []op{{version: "1", at: 1}, {version: "2", at: 2}}, "2"},
		{"an older record added later is not newest", []op{{version: "2", at: 2}, {version: "1", at: 1}}, "2"},
		{"newest by CreatedAt, not version", []op{{version: "9", at: 1}, {version: "10", at: 2}}, "10"},
		{"same CreatedAt: greatest version", []op{{version: "a", at: 5}, {version: "c", at: 5}, {version: "b", at: 5}}, "c"},
		{"after deleting the newest", []op{{version: "1", at: 1}, {version: "3", at: 3}, {version: "2", at: 2}, {del: true, version: "3"}}, "2"},
		{"after deleting the newest of a tie", []op{{version: "a", at: 5}, {version: "b", at: 5}, {del: true, version: "b"}}, "a"},
		{"after deleting an older version", []op{{version: "1", at: 1}, {version: "2", at: 2}, {del: true, version: "1"}}, "2"},
		{"after deleting every version", []op{{version: "1", at: 1}, {version: "2", at: 2}, {del: true, version: "2"}, {del: true, version: "1"}}, ""},
		{"re-added after deleting all", []op{{version: "1", at: 1}, {del: true, version: "1"}, {version: "0", at: 9}}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			// Another name, always newer, must never be picked.
			s.now = func() time.Time { return t0.Add(time.Hour) }
			if _, err := s.Ingest(ctx, Meta{Name: "initrd-other", Version: "z", Kind: KindInitrd}, strings.NewReader("other"), nil); err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.ops {
				if o.del {
					if err := s.Delete(context.Background(), "initrd", o.version, nil); err != nil {
						t.Fatal(err)
					}
					continue
				}
				s.now = func() time.Time { return t0.Add(time.Duration(o.at) * time.Second) }
				if _, err := s.Ingest(ctx, Meta{Name: "initrd", Version: o.version, Kind: KindInitrd}, strings.NewReader(fmt.Sprint("content ", i)), nil); err != nil {
					t.Fatal(err)
				}
			}
			check := func(when string) {
				t.Helper()
				a, ok := s.Resolve("initrd")
				if ok != (tt.want != "") || a.Version != tt.want {
					t.Fatalf("%s: Resolve(initrd) = %q, %v; want %q", when, a.Version, ok, tt.want)
				}
				if want, ok := scanNewest(s.List(), "initrd"); ok && want.Version != a.Version {
					t.Fatalf("%s: index says %s, a scan of every record %s", when, a.Version, want.Version)
				}
			}
			check("live")
			s.Close()
			if s, err = Open(dir); err != nil {
				t.Fatal(err)
			}
			check("reopened")
		})
	}
}

// scanNewest is what Resolve did before the index: look at every record.
func scanNewest(all []Artifact, name string) (Artifact, bool) {
	var best Artifact
	found := false
	for _, a := range all {
		if a.Name == name && (!found || newer(a, best)) {
			best, found = a, true
		}
	}
	return best, found
}

// TestIndexReplace: replacing a record (same name and version) keeps the newest right
// and the count unchanged.
func TestIndexReplace(t *testing.T) {
	t0 := time.Unix(1000, 0)
	x := newIndex()
	x.add(Artifact{Name: "k", Version: "1", CreatedAt: t0.Add(1)})
	x.add(Artifact{Name: "k", Version: "2", CreatedAt: t0.Add(3)})
	x.add(Artifact{Name: "k", Version: "2", CreatedAt: t0}) // now the oldest
	if a, _ := x.latest("k"); a.Version != "1" || x.len() != 2 {
		t.Fatalf("newest %s, %d records; want 1, 2", a.Version, x.len())
	}
	x.add(Artifact{Name: "k", Version: "2", CreatedAt: t0.Add(5)})
	if a, _ := x.latest("k"); a.Version != "2" || x.len() != 2 {
		t.Fatalf("newest %s, %d records; want 2, 2", a.Version, x.len())
	}
}

// BenchmarkResolve: 10,000 records, 1,000 names of 10 versions each.
func BenchmarkResolve(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		s.idx.add(Artifact{Name: fmt.Sprintf("name-%d", i/10), Version: fmt.Sprintf("v%d", i%10), Kind: KindPackage, CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	for _, ref := range []string{"name-500", "name-500@v3"} {
		b.Run(ref, func(b *testing.B) {
			for b.Loop() {
				if _, ok := s.Resolve(ref); !ok {
					b.Fatal(ref)
				}
			}
		})
	}
}
