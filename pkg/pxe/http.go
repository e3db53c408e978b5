package pxe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

func (s *Service) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTPReadTimeout,
		WriteTimeout:      s.cfg.HTTPWriteTimeout,
		IdleTimeout:       s.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    s.cfg.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

const bootPrefix = "/boot/"

// serveHTTP routes by hand rather than through http.ServeMux: the mux cleans paths and
// redirects "/boot/a/../b", which would turn a traversal attempt into a redirect; here
// anything that is not exactly /boot/POD/MAC/FILE is a plain 404.
func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	src := remoteAddr(r)
	rest, ok := strings.CutPrefix(r.URL.Path, bootPrefix)
	if mac, isParams := isHostParamsPath(rest); ok && isParams {
		s.serveHostParams(w, r, mac, src)
		return
	}
	var bp bootPath
	if ok {
		bp, ok = parseBootPath(rest)
	}
	if !ok {
		s.httpRefuse(w, target{}, refusePath, src, r.URL.Path)
		return
	}
	t, why := s.gate(bp, src)
	if bp.file == podmgr.ScriptName {
		s.serveScript(w, r, t, why, src)
		return
	}
	if why != "" {
		s.httpRefuse(w, t, why, src, r.URL.Path)
		return
	}
	a, err := s.artifactFor(t, bp.file)
	if err != nil {
		s.httpRefuse(w, t, artifactRefusal(err), src, r.URL.Path)
		return
	}
	s.serveArtifact(w, r, t, a, bp.sig, src)
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func (s *Service) httpRefuse(w http.ResponseWriter, t target, why refusal, src netip.Addr, path string) {
	pod, host := "", ""
	if t.pc != nil {
		pod = t.pc.Pod.Name
	}
	host = t.host.MAC
	s.m.httpRefused.WithLabelValues(pod, string(why)).Inc()
	s.m.httpRequests.WithLabelValues(pod, "refused", "404").Inc()
	s.log.Info("http refused", "pod", pod, "host", host, "reason", string(why), "source", src.String(), "path", sanitizeForLog(path))
	http.Error(w, "404 not found", http.StatusNotFound)
}

// serveScript answers the iPXE script endpoint: the rendered per-host script, or a
// local-boot script when netboot is off.
func (s *Service) serveScript(w http.ResponseWriter, r *http.Request, t target, why refusal, src netip.Addr) {
	if why == refuseNetboot {
		s.writeScript(w, r, t.pc.Pod.Name, "localboot", []byte(localBootScript))
		s.recordEvent(src.String(), "http.localboot", "netboot is off: served exit", t, "")
		return
	}
	if why != "" {
		s.httpRefuse(w, t, why, src, r.URL.Path)
		return
	}
	if err := s.ownerCheck(t); err != nil {
		s.notOwner(w, r, t, err)
		return
	}
	pod := t.pc.Pod.Name
	if t.prof.Kernel == "" || t.prof.Initrd == "" {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "iPXE script: the profile names no kernel or initrd; serving local boot", scriptAttrs(t)...)
		s.writeScript(w, r, pod, "localboot", []byte(localBootScript))
		return
	}
	step := podmgr.HostStep{Source: src.String(), Action: "http.script", Detail: "iPXE script served", State: podmgr.StateBooting}
	token, recorded, withheld, err := s.scriptToken(r, t, step, src)
	if err != nil {
		s.scriptFailed(w, r, t, "iPXE script: issue host token", err)
		return
	}
	body, err := s.scripts.render(t.prof, s.scriptData(t, token))
	if err != nil {
		// Templates are checked when a profile is saved; this is a profile saved before
		// the check existed, or a bug.
		s.scriptFailed(w, r, t, "iPXE script: render", err)
		return
	}
	s.writeScript(w, r, pod, "script", body)
	// A script without its token records nothing: for a NAT pod it may be anyone's.
	if r.Method == http.MethodGet && !recorded && withheld == "" {
		s.recordEvent(step.Source, step.Action, step.Detail, t, step.State)
	}
}

// scriptToken issues the host's token through the HostToken hook, which records step
// in the token's commit (recorded). Only a GET issues a token: each token replaces the
// host's previous one, and a HEAD (a probe, a health check) must not invalidate the
// token of a boot in progress. The token gate (tokengate.go) may withhold it: withheld
// says why, and the script is then served without a token.
func (s *Service) scriptToken(r *http.Request, t target, step podmgr.HostStep, src netip.Addr) (token string, recorded bool, withheld string, err error) {
	if r.Method != http.MethodGet {
		return "", false, "", nil
	}
	return s.issueToken(r.Context(), t, step, src, "iPXE script served without a token")
}

// issueToken issues the host's token for a boot file that carries it (the iPXE script,
// a grub.cfg) through the token gate; withheldMsg is logged when the gate withholds it.
func (s *Service) issueToken(ctx context.Context, t target, step podmgr.HostStep, src netip.Addr, withheldMsg string) (token string, recorded bool, withheld string, err error) {
	if s.cfg.HostToken == nil {
		return "", false, "", nil
	}
	undo, why := s.tokens.claim(t.pc.Pod.Name, t.host.MAC, t.pc.Pod.NAT, src)
	if why != "" {
		s.m.tokenWithheld.WithLabelValues(t.pc.Pod.Name, why).Inc()
		s.log.LogAttrs(ctx, slog.LevelInfo, withheldMsg,
			append(scriptAttrs(t), slog.String("reason", why), slog.String("source", src.String()))...)
		return "", false, why, nil
	}
	token, err = s.cfg.HostToken(ctx, t.host, step)
	if err != nil {
		undo()
		return "", false, "", err
	}
	return token, true, "", nil
}

func (s *Service) scriptFailed(w http.ResponseWriter, r *http.Request, t target, msg string, err error) {
	if errors.Is(err, podmgr.ErrNotOwner) {
		s.notOwner(w, r, t, err)
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelError, msg, append(scriptAttrs(t), slog.Any("err", err))...)
	http.Error(w, "500 internal error", http.StatusInternalServerError)
	s.m.httpRequests.WithLabelValues(t.pc.Pod.Name, "script", "500").Inc()
}

// ownerCheck refuses the script of a host whose pod another replica owns (HostGuards):
// with or without a token, the host's boot goes on at its pod's owner.
func (s *Service) ownerCheck(t target) error {
	if s.cfg.HostGuards == nil {
		return nil
	}
	_, err := s.cfg.HostGuards(t.pc.Pod.Name)
	return err
}

// notOwner answers a script or parameters request of a host whose pod another replica
// owns (docs/ha.md "Fencing"): 503 with Retry-After and the owner's name; no token was
// issued.
func (s *Service) notOwner(w http.ResponseWriter, r *http.Request, t target, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "no token issued: not the pod's owner", append(scriptAttrs(t), slog.Any("err", err))...)
	w.Header().Set("Retry-After", "1")
	http.Error(w, err.Error(), http.StatusServiceUnavailable)
	s.m.httpRequests.WithLabelValues(t.pc.Pod.Name, "script", "503").Inc()
}

func scriptAttrs(t target) []slog.Attr {
	return []slog.Attr{slog.String("pod", t.pc.Pod.Name), slog.String("host", t.host.MAC), slog.String("profile", t.prof.Name)}
}

func (s *Service) writeScript(w http.ResponseWriter, r *http.Request, pod, kind string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store") // the gate may change it on the next boot
	if r.Method == http.MethodGet {
		// A HEAD renders without a token, so its length would not be the GET's.
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		n, _ := w.Write(body)
		s.m.httpBytes.WithLabelValues(pod).Add(float64(n))
	}
	s.m.httpRequests.WithLabelValues(pod, kind, "200").Inc()
}

// serveArtifact sends an artifact or its signature with http.ServeContent over the
// *os.File: Range, If-None-Match against the digest ETag, Content-Length, and sendfile
// on plain HTTP (the counting writer passes ReadFrom through).
func (s *Service) serveArtifact(w http.ResponseWriter, r *http.Request, t target, a artifact.Artifact, sig bool, src netip.Addr) {
	pod := t.pc.Pod.Name
	kind, digest := "artifact", a.Digest
	open := s.store.Open
	if sig {
		if !a.Signed() {
			s.httpRefuse(w, t, refuseMissing, src, r.URL.Path)
			return
		}
		kind, digest, open = "signature", a.SignatureDigest, s.store.OpenSignature
	}
	f, err := open(a)
	if err != nil {
		s.log.Error("http: open artifact", "pod", pod, "host", t.host.MAC, "artifact", a.Ref(), "err", err)
		s.httpRefuse(w, t, refuseMissing, src, r.URL.Path)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("ETag", `"`+digest+`"`)
	h.Set("Content-Type", contentType(a, sig))
	cw := &countingWriter{ResponseWriter: w, code: http.StatusOK}
	http.ServeContent(cw, r, "", a.CreatedAt, f)
	s.m.httpBytes.WithLabelValues(pod).Add(float64(cw.n))
	s.m.httpRequests.WithLabelValues(pod, kind, strconv.Itoa(cw.code)).Inc()
	full := r.Method == http.MethodGet && cw.code == http.StatusOK
	if ctx := r.Context(); s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "http sent", slog.String("pod", pod), slog.String("host", t.host.MAC), slog.String("artifact", a.Ref()),
			slog.String("kind", kind), slog.Int("code", cw.code), slog.Int64("bytes", cw.n), slog.String("source", src.String()))
	}
	if full {
		detail := fmt.Sprintf("file=%s bytes=%d", a.Ref(), cw.n)
		if sig {
			detail = fmt.Sprintf("file=%s%s bytes=%d", a.Ref(), sigSuffix, cw.n)
		}
		s.recordEvent(src.String(), "http.sent", detail, t, stateFor(a.Kind, sig))
	}
}

// contentType is application/efi for an EFI loader: UEFI HTTP Boot (EDK2) takes the
// image type from it, and only without it from the URL's extension, which a versioned
// name (ipxe.efi@2) does not have.
func contentType(a artifact.Artifact, sig bool) string {
	switch {
	case sig:
		return "application/pkcs7-signature"
	case a.Kind == artifact.KindBootloader && strings.HasSuffix(a.Name, ".efi"):
		return "application/efi"
	}
	return "application/octet-stream"
}

// countingWriter counts body bytes and keeps the status, without hiding io.ReaderFrom
// (which is what lets net/http use sendfile for an *os.File).
type countingWriter struct {
	http.ResponseWriter
	n    int64
	code int
}

func (c *countingWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.ResponseWriter.(io.ReaderFrom)
	if !ok {
		n, err := io.Copy(struct{ io.Writer }{c.ResponseWriter}, r)
		c.n += n
		return n, err
	}
	n, err := rf.ReadFrom(r)
	c.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
