package blobsync

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// Routes serve this replica's blobs to its peers: replica-role tokens only (an admin
// may too, for debugging). Only blobs on this disk are served, never fetched on
// demand, so two replicas lacking a blob cannot ask each other in a loop.
func Routes(store *artifact.Store, log *slog.Logger) []api.Route {
	return []api.Route{{Method: http.MethodGet, Path: BlobRoute + "{digest}", Allow: []podmgr.Role{podmgr.RoleReplica},
		Handler: func(w http.ResponseWriter, r *http.Request, a podmgr.Actor) { serveBlob(store, log, w, r, a) }}}
}

func serveBlob(store *artifact.Store, log *slog.Logger, w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	digest := r.PathValue("digest")
	f, err := store.OpenLocalBlob(digest)
	if err != nil {
		if errors.Is(err, artifact.ErrNotFound) {
			api.WriteError(w, http.StatusNotFound, fmt.Errorf("blob %s is not on this replica", digest))
			return
		}
		log.Error("serve blob to a peer", "digest", digest, "peer", a.Name, "err", err)
		api.WriteError(w, http.StatusInternalServerError, errors.New("internal error opening the blob; see the server log"))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+digest+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
	log.Debug("blob sent to a peer", "digest", digest, "peer", a.Name, "source", a.Source)
}
