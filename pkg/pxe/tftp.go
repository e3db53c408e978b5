package pxe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// The only texts a TFTP client ever sees from podboot: they name no internal path and
// do not tell a missing host from a forbidden file. A request that finds no free slot
// gets no answer (tftp.ErrNoResponse); "server busy" ends a transfer whose late first
// acknowledgement finds none.
var (
	errTFTPNotFound = errors.New("file not found")
	errTFTPBusy     = errors.New("server busy")
)

func (s *Service) newTFTPServer() *tftp.Server {
	srv := tftp.NewServer(s.tftpRead, tftpWrite)
	// The cap is the configured block size, not the interface MTU: pin/tftp's MTU clamp
	// sees only the local interface (not the WAN path) and falls back to 512 when the
	// socket gives no control messages.
	srv.SetBlockSizeNegotiation(false)
	srv.SetBlockSize(s.cfg.TFTPBlockSize)
	// RFC 7440, for clients that ask (OVMF asks for 4): third_party/pin-tftp.
	srv.SetWindowSize(s.cfg.TFTPWindowSize)
	srv.SetTimeout(s.cfg.TFTPTimeout)
	// Opt-in (tftpMinTimeout > 0): the retransmit timeout follows each transfer's
	// measured RTT (third_party/pin-tftp rto.go); off, the fixed tftpTimeout.
	srv.SetAdaptiveTimeout(max(0, s.cfg.TFTPMinTimeout), s.cfg.TFTPMaxTimeout)
	srv.SetRetries(s.cfg.TFTPRetries)
	// pin/tftp's default backoff sleeps up to a second before each retransmit, on top of
	// the timeout; PXE ROMs give up sooner than that on a lossy WAN.
	srv.SetBackoff(func(attempt int) time.Duration { return time.Duration(attempt) * 50 * time.Millisecond })
	return srv
}

// tftpWrite refuses every write request with the same text as a missing file (pin/tftp's
// own refusal would name its Go error).
func tftpWrite(string, io.WriterTo) error { return errTFTPNotFound }

// tftpRead serves one read request: POD/MAC/FILE, gated like HTTP; the transfer holds one
// slot of MaxTFTPTransfers and of its source's and pod's shares (tftpslots.go).
func (s *Service) tftpRead(filename string, rf io.ReaderFrom) error {
	ot, _ := rf.(tftp.OutgoingTransfer)
	var src netip.Addr
	if ot != nil {
		ra := ot.RemoteAddr()
		src, _ = netip.AddrFromSlice(ra.IP)
		src = src.Unmap()
	}
	if isGlobalGrubConfig(filename) {
		return s.tftpGlobalGrub(rf, src)
	}
	bp, ok := parseBootPath(filename)
	if !ok || bp.file == podmgr.ScriptName {
		return s.tftpRefuse(target{}, refusePath, src, filename)
	}
	t, why := s.gate(bp, src)
	if why != "" {
		return s.tftpRefuse(t, why, src, filename)
	}
	if bp.file == podmgr.GrubConfigName {
		return s.tftpHostGrub(rf, t, src, filename)
	}
	a, err := s.artifactFor(t, bp.file)
	if err != nil {
		why := artifactRefusal(err)
		if why == refuseMissing {
			// The host's own request for a file its pod references: a PXE ROM stops
			// here, so `host watch` must say why (the gate passed: at most what the host
			// itself asks for is recorded).
			s.recordEvent(src.String(), "tftp.refused", fmt.Sprintf("file=%s is not in the artifact store: add it (podboot image add FILE --kind bootloader)", bp.file), t, "")
		}
		return s.tftpRefuse(t, why, src, filename)
	}
	pod := t.pc.Pod.Name
	if busy := s.tftpSlots.acquire(src, pod); busy != "" {
		// No answer at all: an ERROR makes a PXE ROM give up at once, an unanswered
		// request is retransmitted (iPXE: 6 times within 16 s), when a slot may be free.
		s.m.tftpRefused.WithLabelValues(pod, string(busy)).Inc()
		lvl, n := s.busyLog.Level(time.Now())
		s.log.Log(context.Background(), lvl, "tftp request dropped: transfer limit reached", "pod", pod, "host", t.host.MAC, "source", src.String(),
			"reason", string(busy), "refused_since_last_warning", n)
		return tftp.ErrNoResponse
	}
	hold := s.tftpSlots.hold(src, pod, s.cfg.TFTPFirstACKTimeout, func() { s.m.tftpUnacked.WithLabelValues(pod).Inc() })
	defer hold.end()
	s.m.tftpActive.Inc()
	defer s.m.tftpActive.Dec()

	var f interface {
		io.ReadSeeker
		io.Closer
	}
	size := a.Size
	if bp.sig {
		if !a.Signed() {
			return s.tftpRefuse(t, refuseMissing, src, filename)
		}
		f, err = s.store.OpenSignature(a)
		size = a.SignatureSize
	} else {
		f, err = s.store.Open(a)
	}
	if err != nil {
		s.log.Error("tftp: open artifact", "pod", t.pc.Pod.Name, "host", t.host.MAC, "artifact", a.Ref(), "err", err)
		return s.tftpRefuse(t, refuseMissing, src, filename)
	}
	defer f.Close()
	if ot != nil {
		ot.SetSize(size) // tsize for every file, whatever reader wraps it
	}
	start := time.Now()
	// pin/tftp reads one block per read call; buffering saves a syscall per packet.
	win, _ := rf.(windowed)
	n, err := rf.ReadFrom(&ackReader{r: bufio.NewReaderSize(f, 32<<10), h: hold, win: win})
	s.m.tftpBytes.WithLabelValues(pod).Add(float64(n))
	switch {
	case err == nil:
		s.m.tftpTransfers.WithLabelValues(pod, "ok").Inc()
		s.logTransfer(slog.LevelInfo, "tftp sent", t, bp.file, src, n, slog.Duration("duration", time.Since(start)))
		s.recordEvent(src.String(), "tftp.sent", fmt.Sprintf("file=%s bytes=%d", a.Ref(), n), t, stateFor(a.Kind, bp.sig))
		return nil
	case isProbe(n, err):
		// UEFI firmware asks for tsize, reads the option ack and aborts on purpose
		// (ERROR 8) before fetching for real: not a failure.
		s.m.tftpTransfers.WithLabelValues(pod, "probe").Inc()
		s.logTransfer(slog.LevelDebug, "tftp size probe", t, bp.file, src, n)
		return nil
	default:
		s.m.tftpTransfers.WithLabelValues(pod, "failed").Inc()
		s.logTransfer(slog.LevelWarn, "tftp transfer failed", t, bp.file, src, n, slog.Any("err", err))
		return nil // pin/tftp already told the client; a second error packet helps nobody
	}
}

// logTransfer logs a transfer's outcome with its pod, host, file, source and bytes. The
// attributes are built only when the record is written: a logger made with slog's With
// per transfer pre-formats them (text handler) even for records never written.
func (s *Service) logTransfer(level slog.Level, msg string, t target, file string, src netip.Addr, n int64, extra ...slog.Attr) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("pod", t.pc.Pod.Name), slog.String("host", t.host.MAC), slog.String("file", file),
		slog.String("source", src.String()), slog.Int64("bytes", n)}
	s.log.LogAttrs(ctx, level, msg, append(attrs, extra...)...)
}

// isProbe: the client answered the option ack with an ERROR packet before any data.
func isProbe(n int64, err error) bool {
	return n == 0 && strings.HasPrefix(err.Error(), "sending block 0: code=")
}

func (s *Service) tftpRefuse(t target, why refusal, src netip.Addr, filename string) error {
	pod, host := "", ""
	if t.pc != nil {
		pod = t.pc.Pod.Name
	}
	if t.host.MAC != "" {
		host = t.host.MAC
	}
	s.m.tftpRefused.WithLabelValues(pod, string(why)).Inc()
	s.log.Info("tftp refused", "pod", pod, "host", host, "reason", string(why), "source", src.String(), "file", sanitizeForLog(filename))
	return errTFTPNotFound
}

// stateFor is the host state a served file moves the host to: stage1 (kernel, initrd)
// means booting; bootloaders, signatures and the rest leave the state alone.
func stateFor(k artifact.Kind, sig bool) podmgr.HostState {
	if !sig && (k == artifact.KindKernel || k == artifact.KindInitrd) {
		return podmgr.StateBooting
	}
	return ""
}

// sanitizeForLog bounds and quotes attacker-chosen names before they reach a log.
func sanitizeForLog(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}
