package vmedia

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podboot/podboot/pkg/stage1iso"
)

const mac = "52:54:00:00:15:01"

// TestImages publishes an image and checks who may read it, and when.
func TestImages(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "blob")
	if err := os.WriteFile(src, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := stage1iso.Spec{Kernel: src, Initrd: src, Cmdline: "podboot.ip=192.0.2.50/24", Loaders: stage1iso.DebianLoaders()}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0) }
	imgs, err := New(filepath.Join(dir, "vmedia"), now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	path, err := imgs.Publish(mac, spec, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	get := func(p, from, rng string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, p, nil)
		r.RemoteAddr = from + ":4000"
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		w := httptest.NewRecorder()
		imgs.ServeHTTP(w, r)
		return w
	}
	wrong := strings.Replace(path, "/pbv_", "/pbv_x", 1)
	for _, tc := range []struct {
		name, path, from, rng string
		advance               time.Duration
		want                  int
	}{
		{name: "wrong secret", path: wrong, from: "192.0.2.9", want: 404},
		{name: "other host's path", path: strings.Replace(path, mac, "52:54:00:00:15:02", 1), from: "192.0.2.9", want: 404},
		{name: "first fetch binds the BMC", path: path, from: "192.0.2.9", want: 200},
		{name: "the same BMC reads a range", path: path, from: "192.0.2.9", rng: "bytes=32768-34815", want: 206},
		{name: "another address is refused", path: path, from: "192.0.2.10", want: 404},
		{name: "after the window", path: path, from: "192.0.2.9", advance: time.Hour, want: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.Add(int64(tc.advance / time.Second))
			w := get(tc.path, tc.from, tc.rng)
			if w.Code != tc.want {
				t.Fatalf("GET %s from %s: %d, want %d", tc.path, tc.from, w.Code, tc.want)
			}
			if tc.want == 206 && !strings.HasPrefix(w.Body.String()[1:], "CD001") {
				t.Fatalf("sector 16 does not start an ISO9660 volume descriptor: %q", w.Body.String()[:8])
			}
		})
	}

	// Republishing replaces the image: the old URL and file are gone; Withdraw ends the new one.
	clock.Add(-int64(time.Hour / time.Second))
	files, _ := filepath.Glob(filepath.Join(dir, "vmedia", "*.iso"))
	path2, err := imgs.Publish(mac, spec, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if w := get(path, "192.0.2.9", ""); w.Code != 404 {
		t.Fatalf("the replaced URL answers %d", w.Code)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Fatalf("the replaced image %s is still on disk", files[0])
	}
	if w := get(path2, "192.0.2.11", ""); w.Code != 200 {
		t.Fatalf("the new URL answers %d", w.Code)
	}
	if !imgs.Published(mac) {
		t.Fatal("Published says no for a published host")
	}
	imgs.Withdraw(mac)
	if imgs.Published(mac) {
		t.Fatal("Published says yes after Withdraw")
	}
	if w := get(path2, "192.0.2.11", ""); w.Code != 404 {
		t.Fatalf("a withdrawn URL answers %d", w.Code)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "vmedia", "*")); len(left) != 0 {
		t.Fatalf("withdraw left %v", left)
	}
}

// FuzzParsePath: any request path either fails or yields a normalized MAC and a
// non-empty secret without slashes.
func FuzzParsePath(f *testing.F) {
	f.Add("/vmedia/52:54:00:00:15:01/pbv_abc/stage1.iso")
	f.Add("/vmedia/52-54-00-00-15-01//stage1.iso")
	f.Add("/vmedia/../x/stage1.iso")
	f.Fuzz(func(t *testing.T, p string) {
		mac, secret, ok := parsePath(p)
		if !ok {
			return
		}
		if len(mac) != 17 || secret == "" || strings.Contains(secret, "/") {
			t.Fatalf("%q parsed to %q %q", p, mac, secret)
		}
	})
}
