package agent

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/imagesign"
)

// Disk is where stage2 is written: a block device, or a file in tests.
type Disk interface {
	io.WriterAt
	Sync() error
}

// Stage2Result describes a verified stage2 on disk.
type Stage2Result struct {
	SHA256  string
	Size    int64
	Signer  string
	Resumes int
}

// RefusedError is a verification verdict: the image must not be used. Anything else
// Stage2 returns is a failure to get the image at all.
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string { return "stage2 refused: " + e.Reason + ": " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// MaxResumes bounds how often an interrupted download is resumed.
const MaxResumes = 8

const maxSignature = 1 << 20

// Stage2 streams the chain-loaded image onto disk while hashing it, and verifies its
// detached signature against roots (the pinned CA) — never against anything the server
// sends. An interrupted transfer resumes with Range from the last byte written. The
// caller wipes the disk when Stage2 returns any error.
func Stage2(ctx context.Context, c *Client, d agentproto.Chainload, disk Disk, roots *x509.CertPool, now time.Time, log *slog.Logger) (Stage2Result, error) {
	var res Stage2Result
	if d.Size <= 0 || d.URL == "" || d.SignatureURL == "" {
		return res, fmt.Errorf("chain-load descriptor is incomplete (url %q, size %d, signature %q)", d.URL, d.Size, d.SignatureURL)
	}
	sig, err := c.GetBytes(ctx, d.SignatureURL, maxSignature)
	if err != nil {
		return res, fmt.Errorf("fetch stage2 signature: %w", err)
	}
	v, err := imagesign.NewVerifier(imagesign.DecodeSignature(sig), roots, now, imagesign.WithExpectedSize(d.Size))
	if err != nil {
		return res, refused(err)
	}
	h := sha256.New()
	var off int64
	buf := make([]byte, 1<<20)
	for off < d.Size {
		n, err := fetchFrom(ctx, c, d.URL, off, d.Size, buf, func(p []byte, at int64) error {
			if _, err := disk.WriteAt(p, at); err != nil {
				return fmt.Errorf("write disk at %d: %w", at, err)
			}
			if _, err := v.Write(p); err != nil {
				return refused(err)
			}
			h.Write(p)
			return nil
		})
		off += n
		if err == nil {
			continue
		}
		var re *RefusedError
		if errors.As(err, &re) || ctx.Err() != nil || strings.HasPrefix(err.Error(), "write disk") {
			return res, err
		}
		if res.Resumes >= MaxResumes {
			return res, fmt.Errorf("stage2 download failed after %d resumes at byte %d: %w", res.Resumes, off, err)
		}
		res.Resumes++
		log.Warn("stage2 download interrupted; resuming", "offset", off, "resume", res.Resumes, "err", err)
		if !sleepCtx(ctx, time.Duration(res.Resumes)*500*time.Millisecond) {
			return res, ctx.Err()
		}
	}
	if err := disk.Sync(); err != nil {
		return res, fmt.Errorf("sync disk: %w", err)
	}
	vr, err := v.Finish()
	if err != nil {
		return res, refused(err)
	}
	res.SHA256, res.Size = hex.EncodeToString(h.Sum(nil)), off
	res.Signer = vr.Signer.Subject.String()
	if d.SHA256 != "" && !strings.EqualFold(d.SHA256, res.SHA256) {
		return res, &RefusedError{Reason: "digest mismatch", Err: fmt.Errorf("signed image has SHA-256 %s but the chain-load names %s", res.SHA256, d.SHA256)}
	}
	return res, nil
}

func refused(err error) error {
	r := string(imagesign.ReasonOf(err))
	if r == "" {
		r = "verification failed"
	}
	return &RefusedError{Reason: r, Err: err}
}

// fetchFrom requests the image from off and hands each chunk to sink with its disk
// offset. It returns how many bytes the sink accepted.
func fetchFrom(ctx context.Context, c *Client, ref string, off, size int64, buf []byte, sink func([]byte, int64) error) (int64, error) {
	hdr := http.Header{}
	if off > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	resp, err := c.Get(ctx, ref, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case off == 0 && resp.StatusCode == http.StatusOK:
	case off > 0 && resp.StatusCode == http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			return 0, fmt.Errorf("server answered Range %d- with Content-Range %q", off, resp.Header.Get("Content-Range"))
		}
	default:
		return 0, fmt.Errorf("stage2: unexpected HTTP %d for offset %d", resp.StatusCode, off)
	}
	var n int64
	for {
		m, rerr := resp.Body.Read(buf)
		if m > 0 {
			if off+n+int64(m) > size {
				return n, &RefusedError{Reason: string(imagesign.ReasonTooLong), Err: fmt.Errorf("server sent more than %d bytes", size)}
			}
			if err := sink(buf[:m], off+n); err != nil {
				return n, err
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			if off+n < size {
				return n, io.ErrUnexpectedEOF
			}
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
