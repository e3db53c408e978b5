package imagepush

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagesign"
	"github.com/podboot/podboot/pkg/podmgr"
)

// AuditFunc records a change made by a push (see ManagerAudit).
type AuditFunc func(ctx context.Context, a podmgr.Actor, action, detail string)

// Handler serves the push route.
type Handler struct {
	cfg   Config
	store *artifact.Store
	roots *x509.CertPool
	audit AuditFunc
	log   *slog.Logger
	now   func() time.Time
}

// New builds the push handler over store. cfg.RootCA must name a PEM file of roots.
func New(cfg Config, store *artifact.Store, audit AuditFunc, log *slog.Logger) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	roots, err := loadRoots(cfg.RootCA)
	if err != nil {
		return nil, err
	}
	if audit == nil {
		audit = func(context.Context, podmgr.Actor, string, string) {}
	}
	return &Handler{cfg: cfg, store: store, roots: roots, audit: audit, log: log, now: time.Now}, nil
}

// Routes are mounted with api.Server.Mount: the ci role may push (an admin may too),
// and no other role.
func (h *Handler) Routes() []api.Route {
	return []api.Route{{Method: http.MethodPut, Path: RoutePattern, Allow: []podmgr.Role{podmgr.RoleCI}, Handler: h.push}}
}

// push handles PUT /api/v1/images/{name}/{version}. See the package doc for the order
// of checks.
func (h *Handler) push(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	start := h.now()
	p, err := parseRequest(r, h.cfg.MaxUploadBytes)
	if err != nil {
		h.fail(w, r, a, p, err, nil)
		return
	}
	if err := h.mayPush(a, p.meta); err != nil {
		h.fail(w, r, a, p, err, nil)
		return
	}
	v, err := imagesign.NewVerifier(p.signature, h.roots, start, imagesign.WithExpectedSize(p.length))
	if err != nil {
		h.fail(w, r, a, p, err, nil)
		return
	}
	p.meta.Signer = v.Signer().Subject.String()
	if res, done, err := h.existing(p); done || err != nil {
		if err != nil {
			h.fail(w, r, a, p, err, nil)
			return
		}
		h.log.Info("image push unchanged", "ref", p.ref(), "sha256", res.Image.Digest, "actor", a.Name)
		api.WriteJSON(w, http.StatusOK, res)
		return
	}
	// Reading and answering interleave: a failure mid-body is answered at once, and the
	// rest of the body is drained (see fail), instead of resetting the connection under
	// a client that is still sending.
	_ = http.NewResponseController(w).EnableFullDuplex()
	body := &countingReader{r: api.StreamBody(w, r, http.MaxBytesReader(w, r.Body, p.length))}
	old, existed := h.store.Get(p.meta.Name, p.meta.Version)
	h.log.Info("image push receiving", "ref", p.ref(), "kind", p.meta.Kind, "size", p.length, "signer", p.meta.Signer, "actor", a.Name)
	art, err := h.store.Ingest(r.Context(), p.meta, io.TeeReader(body, v), func(_ context.Context, digest [32]byte, _ *os.File) error {
		return finish(v, digest, p.digest)
	})
	if err != nil {
		h.fail(w, r, a, p, err, body)
		return
	}
	created := !existed || old.Digest != art.Digest
	took := h.now().Sub(start)
	h.log.Info("image pushed", "ref", art.Ref(), "kind", art.Kind, "sha256", art.Digest, "size", art.Size,
		"signer", art.Signer, "created", created, "actor", a.Name, "took", took.Round(time.Millisecond), "mib_per_s", mibPerSecond(art.Size, took))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		h.audit(r.Context(), a, "image.push", fmt.Sprintf("%s kind=%s sha256=%s size=%d signer=%q", art.Ref(), art.Kind, art.Digest, art.Size, art.Signer))
	}
	api.WriteJSON(w, status, Result{Image: art, Created: created})
}

// mayPush refuses, from the headers alone, what the token was not granted (403) and a
// kind other than the name already has (409; the store checks again under its lock).
func (h *Handler) mayPush(a podmgr.Actor, m artifact.Meta) error {
	if err := a.MayPush(string(m.Kind), m.Name); err != nil {
		return statusErr(http.StatusForbidden, err)
	}
	return h.store.CheckKind(m.Name, m.Kind)
}

// existing answers from the record alone when the client declared its digest and the
// version exists: the same digest is a no-op, another is a conflict. done is false when
// the body has to be read.
func (h *Handler) existing(p pushRequest) (res Result, done bool, err error) {
	old, ok := h.store.Get(p.meta.Name, p.meta.Version)
	if !ok || p.digest == nil {
		return Result{}, false, nil
	}
	if old.Digest == hex.EncodeToString(p.digest) {
		return Result{Image: old}, true, nil
	}
	return Result{}, true, fmt.Errorf("%w: %s already exists with sha256 %s: versions are immutable, push a new version", artifact.ErrConflict, p.ref(), old.Digest)
}

// finish is the store's verify callback: the verifier has seen every byte the store
// wrote; its Finish decides. A declared digest must match too.
func finish(v *imagesign.Verifier, digest [32]byte, declared []byte) error {
	res, err := v.Finish()
	if err != nil {
		return err
	}
	if !bytes.Equal(res.Digest, digest[:]) {
		return errors.New("verifier and store saw different bytes")
	}
	if declared != nil && !bytes.Equal(declared, digest[:]) {
		return statusErr(http.StatusBadRequest, fmt.Errorf("the body's sha256 %x differs from the declared %s %x", digest, HeaderContentSHA256, declared))
	}
	return nil
}

func mibPerSecond(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(n)/(1<<20)/d.Seconds())
}

// countingReader counts the body bytes read, to know whether a failure left some unread.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
