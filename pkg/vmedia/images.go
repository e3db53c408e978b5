package vmedia

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/stage1iso"
)

// PathPrefix is where Images serves: PathPrefix + MAC + "/" + secret + "/stage1.iso".
const PathPrefix = "/vmedia/"

// Images are the published ISOs, one per host at most, files in dir.
type Images struct {
	dir string
	now func() time.Time
	log *slog.Logger

	mu    sync.Mutex
	byMAC map[string]*image
}

// image is one published ISO.
type image struct {
	hash    string // sha256 of the URL secret
	file    string
	expires time.Time
	owner   netip.Addr // the first address that fetched it; invalid until then
}

// New keeps the images in dir (made when missing); now is the clock (nil: time.Now).
func New(dir string, now func() time.Time, log *slog.Logger) (*Images, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("virtual media dir %s: %w", dir, err)
	}
	return &Images{dir: dir, now: now, log: log, byMAC: map[string]*image{}}, nil
}

// Publish builds the host's ISO from spec and returns the URL path that serves it until
// window has passed. It replaces the host's earlier image: its URL stops working.
func (s *Images) Publish(mac string, spec stage1iso.Spec, window time.Duration) (string, error) {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return "", err
	}
	secret, err := podmgr.NewSecret("pbv_")
	if err != nil {
		return "", fmt.Errorf("virtual media for host %s: %w", mac, err)
	}
	name, err := podmgr.NewSecret("") // a file name that tells nothing of the URL
	if err != nil {
		return "", fmt.Errorf("virtual media for host %s: %w", mac, err)
	}
	file := filepath.Join(s.dir, strings.ReplaceAll(mac, ":", "-")+"-"+name+".iso")
	if err := stage1iso.Build(spec, file); err != nil {
		return "", fmt.Errorf("virtual media for host %s: %w", mac, err)
	}
	s.mu.Lock()
	old := s.byMAC[mac]
	s.byMAC[mac] = &image{hash: podmgr.HashSecret(secret), file: file, expires: s.now().Add(window)}
	s.mu.Unlock()
	if old != nil {
		os.Remove(old.file)
	}
	return PathPrefix + mac + "/" + secret + "/stage1.iso", nil
}

// Withdraw removes the host's image; its URL stops working. No image is not an error.
func (s *Images) Withdraw(mac string) {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return
	}
	s.mu.Lock()
	old := s.byMAC[mac]
	delete(s.byMAC, mac)
	s.mu.Unlock()
	if old != nil {
		os.Remove(old.file)
	}
}

// Published says whether the host has an image out.
func (s *Images) Published(mac string) bool {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byMAC[mac] != nil
}

// ServeHTTP serves GET and HEAD (ranges included) of a published image to its owner.
// Every refusal is the same 404, so a prober learns nothing about which hosts have one.
func (s *Images) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mac, secret, ok := parsePath(r.URL.Path)
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	src := remoteAddr(r)
	file, why := s.claim(mac, secret, src)
	if why != "" {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "virtual media refused", slog.String("host", mac),
			slog.String("source", src.String()), slog.String("reason", why))
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.NotFound(w, r) // withdrawn meanwhile
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/x-iso9660-image")
	http.ServeContent(w, r, "stage1.iso", st.ModTime(), f)
}

// claim checks the secret and the window and binds the image to src on its first use;
// why says what was refused.
func (s *Images) claim(mac, secret string, src netip.Addr) (file, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	im := s.byMAC[mac]
	switch {
	case im == nil:
		return "", "no image published for the host"
	case subtle.ConstantTimeCompare([]byte(podmgr.HashSecret(secret)), []byte(im.hash)) != 1:
		return "", "secret does not match"
	case !s.now().Before(im.expires):
		return "", "provisioning window closed at " + im.expires.UTC().Format(time.RFC3339)
	case im.owner.IsValid() && im.owner != src:
		return "", "already fetched by " + im.owner.String()
	}
	im.owner = src
	return im.file, ""
}

// parsePath splits PathPrefix/MAC/SECRET/stage1.iso.
func parsePath(p string) (mac, secret string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, PathPrefix), "/")
	if !strings.HasPrefix(p, PathPrefix) || len(parts) != 3 || parts[2] != "stage1.iso" || parts[1] == "" {
		return "", "", false
	}
	mac, err := podmgr.NormalizeMAC(parts[0])
	if err != nil {
		return "", "", false
	}
	return mac, parts[1], true
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
