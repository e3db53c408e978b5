package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// ArtifactLookup reports whether an artifact reference (name or name@version) resolves
// to an artifact in the store.
type ArtifactLookup func(ref string) bool

// SetArtifactLookup makes profile saves check that the artifacts a profile names
// exist. Without it (API tests without an artifact store) nothing is checked.
func (s *Server) SetArtifactLookup(f ArtifactLookup) { s.artifactExists = f }

// missingArtifacts lists, one phrase each, the references of p that resolve to no
// artifact. A malformed reference is left to the profile's validation, which names it.
func (s *Server) missingArtifacts(p podmgr.Profile) []string {
	if s.artifactExists == nil {
		return nil
	}
	var out []string
	for _, r := range p.ArtifactRefs() {
		if _, _, err := artifact.ParseRef(r.Ref); err != nil || s.artifactExists(r.Ref) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %q is not in the artifact store", r.Field, r.Ref))
	}
	return out
}

// profileArtifacts checks p's artifact references before a save. A missing artifact
// refuses the save (400, naming the fields) unless the request says allowMissing=true:
// then the save goes on and the missing ones come back as warnings.
func (s *Server) profileArtifacts(w http.ResponseWriter, r *http.Request, p podmgr.Profile) (warnings []string, ok bool) {
	missing := s.missingArtifacts(p)
	if len(missing) == 0 {
		return nil, true
	}
	if allow, _ := strconv.ParseBool(r.URL.Query().Get("allowMissing")); allow {
		return missing, true
	}
	WriteError(w, http.StatusBadRequest, fmt.Errorf("%w: profile %s: %s: push them first (podboot image push), or save anyway with --allow-missing (API: ?allowMissing=true)",
		podmgr.ErrInvalid, p.Name, strings.Join(missing, "; ")))
	return nil, false
}
