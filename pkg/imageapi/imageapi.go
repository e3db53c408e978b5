// Package imageapi mounts the artifact store on the management API: an admin loads
// stage1 files (bootloaders, kernels, initrds) with `podboot image add`, anyone with a
// reading role (and ci) lists and shows them, and an admin deletes what no profile or pod uses.
//
// It is an API mount, beside pkg/imagepush (the CI push route), not part of the blob
// store: deciding whether an artifact is in use needs the pods and profiles (podmgr),
// which the store itself must not depend on. Both share Store.Ingest.
package imageapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// DefaultMaxUpload bounds one upload (stage1 files are megabytes; this leaves room for
// a stage2 image loaded by hand).
const DefaultMaxUpload int64 = 64 << 30

// Images serves the image routes.
type Images struct {
	store     *artifact.Store
	mgr       *podmgr.Manager
	log       *slog.Logger
	MaxUpload int64
}

// New returns the image routes over store.
func New(store *artifact.Store, mgr *podmgr.Manager, log *slog.Logger) *Images {
	return &Images{store: store, mgr: mgr, log: log, MaxUpload: DefaultMaxUpload}
}

// Routes are mounted with api.Server.Mount. Adding and deleting are admin-only (an
// empty Allow list); operators, viewers and ci tokens may read the metadata (a ci
// token lists what it pushed).
func (im *Images) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/images", Handler: im.add},
		{Method: "GET", Path: "/api/v1/images", Allow: imageReaders(), Handler: im.list},
		{Method: "GET", Path: "/api/v1/images/{name}", Allow: imageReaders(), Handler: im.show},
		{Method: "DELETE", Path: "/api/v1/images/{name}", Handler: im.delete},
	}
}

// imageReaders may read image metadata: the API's readers and ci.
func imageReaders() []podmgr.Role { return append(api.Readers(), podmgr.RoleCI) }

// add streams the request body into the store: POST /api/v1/images?name=N&version=V&kind=K.
func (im *Images) add(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	q := r.URL.Query()
	meta := artifact.Meta{Name: q.Get("name"), Version: q.Get("version"), Kind: artifact.Kind(q.Get("kind"))}
	if meta.Version == "" {
		meta.Version = "1"
	}
	if meta.Kind == artifact.KindStage2 {
		api.WriteError(w, http.StatusBadRequest, errors.New("stage2 images must be signed: push them with 'podboot image push', not 'image add'"))
		return
	}
	body := api.StreamBody(w, r, http.MaxBytesReader(w, r.Body, im.MaxUpload))
	art, err := im.store.Ingest(r.Context(), meta, body, nil)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			api.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("upload is larger than %d bytes", mbe.Limit))
		default:
			writeErr(w, im.log, err)
		}
		return
	}
	im.audit(r.Context(), a, "image.add", fmt.Sprintf("%s kind=%s sha256=%s size=%d", art.Ref(), art.Kind, art.Digest, art.Size))
	api.WriteJSON(w, http.StatusCreated, art)
}

func (im *Images) list(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	out := im.store.List()
	if out == nil {
		out = []artifact.Artifact{}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// show answers GET /api/v1/images/NAME (every version) or NAME@VERSION (one).
func (im *Images) show(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	ref := r.PathValue("name")
	name, version, err := artifact.ParseRef(ref)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	var out []artifact.Artifact
	for _, a := range im.store.List() {
		if a.Name == name && (version == "" || a.Version == version) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		api.WriteError(w, http.StatusNotFound, fmt.Errorf("image %s not found: see 'podboot image list'", ref))
		return
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// delete answers DELETE /api/v1/images/NAME@VERSION; an artifact in use is refused.
func (im *Images) delete(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	ref := r.PathValue("name")
	name, version, err := artifact.ParseRef(ref)
	if err != nil || version == "" {
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("image %q: name the version to delete, as NAME@VERSION", ref))
		return
	}
	err = im.store.Delete(r.Context(), name, version, func(art artifact.Artifact) error { return InUse(im.mgr, im.store, art) })
	if err != nil {
		writeErr(w, im.log, err)
		return
	}
	detail := ref
	if next, ok := im.store.Resolve(name); ok {
		detail += "; " + name + " now resolves to " + next.Ref()
	}
	im.audit(r.Context(), a, "image.delete", detail)
	w.WriteHeader(http.StatusNoContent)
}

// ErrInUse marks an artifact a profile or pod references.
var ErrInUse = errors.New("in use")

// InUse says which profile, host or pod references art, if any. A reference pinned to
// art's version always protects it. A bare-name reference uses the newest version, so it
// protects only that one, and only while it is the last version of the name: deleting
// the newest of several moves bare-name references to the next newest (how an admin
// takes back a bad push without pinning every profile first).
func InUse(mgr *podmgr.Manager, store *artifact.Store, art artifact.Artifact) error {
	uses := func(ref string) bool {
		if ref == "" {
			return false
		}
		got, ok := store.Resolve(ref)
		if !ok || got.Ref() != art.Ref() {
			return false
		}
		_, version, _ := artifact.ParseRef(ref)
		return version != "" || store.Versions(art.Name) == 1
	}
	reg := mgr.Registry()
	for _, p := range mgr.Profiles() {
		for _, ref := range []string{p.Bootloaders.BIOS, p.Bootloaders.EFIx64, p.Bootloaders.EFIARM64, p.Kernel, p.Initrd, p.Stage2, p.BashPackage} {
			if uses(ref) {
				return fmt.Errorf("%w: profile %s references it (%s): change the profile first", ErrInUse, p.Name, ref)
			}
		}
	}
	for _, p := range mgr.Pods() {
		// A profile that names no bootloader boots the shipped defaults by name.
		prof, _ := reg.Profile(p.Profile)
		for _, k := range []podmgr.Firmware{podmgr.FirmwareBIOS, podmgr.FirmwareEFIx64, podmgr.FirmwareEFIARM64} {
			if f := podmgr.BootFile(podmgr.Host{}, prof, k); uses(f) {
				return fmt.Errorf("%w: pod %s boots it (%s)", ErrInUse, p.Name, f)
			}
		}
		for _, ref := range p.Artifacts {
			if uses(ref) {
				return fmt.Errorf("%w: pod %s lists it in its artifacts (%s): remove it there first", ErrInUse, p.Name, ref)
			}
		}
		for _, h := range reg.HostsOfPod(p.Name) {
			for _, ref := range []string{h.Bootloaders.BIOS, h.Bootloaders.EFIx64, h.Bootloaders.EFIARM64} {
				if uses(ref) {
					return fmt.Errorf("%w: host %s in pod %s boots it (%s)", ErrInUse, h.MAC, p.Name, ref)
				}
			}
		}
	}
	return nil
}

func writeErr(w http.ResponseWriter, log *slog.Logger, err error) {
	st := http.StatusInternalServerError
	switch {
	case errors.Is(err, artifact.ErrInvalid), errors.Is(err, artifact.ErrRejected):
		st = http.StatusBadRequest
	case errors.Is(err, artifact.ErrNotFound):
		st = http.StatusNotFound
	case errors.Is(err, artifact.ErrConflict), errors.Is(err, ErrInUse):
		st = http.StatusConflict
	case errors.Is(err, artifact.ErrNotReplicated):
		st = http.StatusServiceUnavailable
	case errors.Is(err, syscall.ENOSPC):
		log.Error("image request failed: disk full", "err", err)
		api.WriteError(w, http.StatusInsufficientStorage, errors.New("the server's disk is full: nothing was stored; free space on the data dir and retry"))
		return
	}
	if st == http.StatusInternalServerError {
		log.Error("image request failed", "err", err)
		api.WriteError(w, st, errors.New("internal error storing the image; see the server log"))
		return
	}
	api.WriteError(w, st, err)
}

// audit appends an audit event through the manager's store.
func (im *Images) audit(ctx context.Context, a podmgr.Actor, action, detail string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := im.mgr.Store().Update(ctx, func(tx podmgr.Tx) error {
		_, err := tx.AppendEvent(podmgr.Event{Time: time.Now().UTC(), Kind: podmgr.KindAudit, Actor: a.Name, Source: a.Source, Action: action, Detail: detail})
		return err
	})
	if err != nil {
		im.log.Error("audit image change", "action", action, "detail", detail, "err", err)
	}
	im.log.Info("image changed", "action", action, "detail", detail, "actor", a.Name, "role", string(a.Role))
}
