package testutil

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RedfishBMC is a Redfish service for tests: it serves the DMTF public-rackmount1
// mockup (testdata/redfish) over HTTPS, requires HTTP Basic auth, and implements what
// the mockup only describes: ComputerSystem.Reset (power state follows the ResetType)
// and a PATCH of the Boot override (with If-Match: the system has an ETag, as many
// BMCs do), and Redfish sessions (POST SessionService/Sessions answers X-Auth-Token and
// the session's Location; DELETE closes it). It refuses what a real BMC refuses (bad
// credentials, a ResetType or boot target not in the allowable values) with Redfish
// error bodies, and records every accepted action.
type RedfishBMC struct {
	URL    string
	Host   string
	Port   int
	CACert string // PEM of the server's certificate
	User   string
	Pass   string

	srv   *httptest.Server
	files map[string]map[string]any

	mu      sync.Mutex
	actions []string
	power   string
	boot    map[string]string
	media   map[string]map[string]any // VirtualMedia URI -> Image, Inserted as now
	version int                       // the system's ETag: bumped by every change

	qemu       *qemuTarget       // DriveQEMU: the guest the actions apply to
	noSessions bool              // RedfishNoSessions: POST Sessions answers 405
	sessions   map[string]string // X-Auth-Token -> session URI
	nextID     int
}

// RedfishManagerMedia selects the older layout (DMTF bundle before 2022.3) where the
// VirtualMedia collection hangs under the Manager instead of the System.
const RedfishManagerMedia = "manager-media"

// RedfishNoSessions makes the fixture a BMC without sessions (Basic auth only): POST
// Sessions answers 405.
const RedfishNoSessions = "no-sessions"

// StartRedfishBMC starts the fixture on 127.0.0.1; t.Cleanup stops it. With the
// option RedfishManagerMedia it serves the older Manager-hosted VirtualMedia layout.
func StartRedfishBMC(t testing.TB, user, pass string, opts ...string) *RedfishBMC {
	t.Helper()
	legacy := slices.Contains(opts, RedfishManagerMedia)
	b := &RedfishBMC{User: user, Pass: pass, files: map[string]map[string]any{}, power: "On", boot: map[string]string{}, media: map[string]map[string]any{},
		sessions: map[string]string{}, noSessions: slices.Contains(opts, RedfishNoSessions)}
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "testdata", "redfish", "public-rackmount1")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "index.json" {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		switch old, after, _ := strings.Cut(rel, "/"); {
		case strings.HasPrefix(old, "_legacy-") && !legacy:
			return nil
		case strings.HasPrefix(old, "_legacy-"):
			rel = after
		case legacy && (strings.HasPrefix(rel, "Managers/BMC") || strings.HasPrefix(rel, "Systems/437XR1138R2/VirtualMedia")):
			return nil
		}
		uri := "/redfish/v1"
		if rel != "." {
			uri += "/" + filepath.ToSlash(rel)
		}
		b.files[uri] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if legacy {
		delete(b.files[rfSystem], "VirtualMedia")
	}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	b.URL = b.srv.URL
	host, port, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	b.Host = host
	b.Port, _ = strconv.Atoi(port)
	b.CACert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.srv.Certificate().Raw}))
	return b
}

// Actions returns the accepted actions so far, e.g. "Reset ForceOff",
// "Boot Pxe Once UEFI".
func (b *RedfishBMC) Actions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.actions)
}

// PowerState is the system's power state now.
func (b *RedfishBMC) PowerState() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.power
}

// SetPowerState sets the system's power state ("On", "Off").
func (b *RedfishBMC) SetPowerState(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.power = s
}

func redfishErr(w http.ResponseWriter, status int, id, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": "Base.1.8.GeneralError", "message": msg,
		"@Message.ExtendedInfo": []map[string]string{{"MessageId": id, "Message": msg}},
	}})
}

// Sessions are the sessions opened so far and those still open (sessions are not
// in Actions).
func (b *RedfishBMC) Sessions() (opened, open int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextID, len(b.sessions)
}

func (b *RedfishBMC) authorized(r *http.Request) bool {
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		b.mu.Lock()
		defer b.mu.Unlock()
		_, ok := b.sessions[tok]
		return ok
	}
	h := r.Header.Get("Authorization")
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(b.User+":"+b.Pass))
	return h == want
}

const (
	rfSystem   = "/redfish/v1/Systems/437XR1138R2"
	rfSessions = "/redfish/v1/SessionService/Sessions"
)

// login creates a session for the right UserName and Password (DSP0266 13.3.4).
func (b *RedfishBMC) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ UserName, Password string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if in.UserName != b.User || in.Password != b.Pass {
		redfishErr(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.")
		return
	}
	b.mu.Lock()
	b.nextID++
	tok := fmt.Sprintf("fixture-token-%d", b.nextID)
	uri := fmt.Sprintf("%s/%d", rfSessions, b.nextID)
	b.sessions[tok] = uri
	b.mu.Unlock()
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", uri)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"@odata.id": uri, "Id": strconv.Itoa(b.nextID), "UserName": in.UserName})
}

// logout deletes a session; the request was authorized (by any session or Basic auth).
func (b *RedfishBMC) logout(w http.ResponseWriter, r *http.Request, path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tok, uri := range b.sessions {
		if uri == path {
			delete(b.sessions, tok)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	redfishErr(w, http.StatusNotFound, "Base.1.8.ResourceNotFound", "The session "+path+" was not found.")
}

func (b *RedfishBMC) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodPost && path == rfSessions && !b.noSessions {
		b.login(w, r)
		return
	}
	if path != "/redfish/v1" && !b.authorized(r) {
		redfishErr(w, http.StatusUnauthorized, "Base.1.8.InsufficientPrivilege", "There are insufficient privileges for the account or credentials associated with the current session to perform the requested operation.")
		return
	}
	switch {
	case r.Method == http.MethodGet:
		b.get(w, path)
	case r.Method == http.MethodDelete && strings.HasPrefix(path, rfSessions+"/") && !b.noSessions:
		b.logout(w, r, path)
	case r.Method == http.MethodPost && path == rfSystem+"/Actions/ComputerSystem.Reset":
		b.reset(w, r)
	case r.Method == http.MethodPatch && path == rfSystem:
		b.patchBoot(w, r)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/Actions/VirtualMedia.InsertMedia") && b.isMedia(strings.TrimSuffix(path, "/Actions/VirtualMedia.InsertMedia")):
		b.insertMedia(w, r, strings.TrimSuffix(path, "/Actions/VirtualMedia.InsertMedia"))
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/Actions/VirtualMedia.EjectMedia") && b.isMedia(strings.TrimSuffix(path, "/Actions/VirtualMedia.EjectMedia")):
		b.ejectMedia(w, strings.TrimSuffix(path, "/Actions/VirtualMedia.EjectMedia"))
	case b.files[path] != nil:
		redfishErr(w, http.StatusMethodNotAllowed, "Base.1.8.OperationNotAllowed", "The HTTP method is not allowed on this resource.")
	default:
		redfishErr(w, http.StatusNotFound, "Base.1.8.ResourceNotFound", "The requested resource of type was named "+path+" was not found.")
	}
}

func (b *RedfishBMC) system() map[string]any { return b.files[rfSystem] }

func allowable(obj map[string]any, key string) []string {
	var out []string
	if l, ok := obj[key+"@Redfish.AllowableValues"].([]any); ok {
		for _, v := range l {
			out = append(out, fmt.Sprint(v))
		}
	}
	return out
}

func (b *RedfishBMC) get(w http.ResponseWriter, path string) {
	m, ok := b.files[path]
	if !ok {
		redfishErr(w, http.StatusNotFound, "Base.1.8.ResourceNotFound", "The requested resource "+path+" was not found.")
		return
	}
	out := m
	if path == rfSystem {
		b.mu.Lock()
		out = map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		out["PowerState"] = b.power
		boot := map[string]any{}
		for k, v := range m["Boot"].(map[string]any) {
			boot[k] = v
		}
		for k, v := range b.boot {
			boot[k] = v
		}
		out["Boot"] = boot
		w.Header().Set("ETag", fmt.Sprintf(`W/"%d"`, b.version))
		b.mu.Unlock()
	}
	if b.isMedia(path) {
		out = b.mediaView(path, m)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (b *RedfishBMC) reset(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	rt, _ := in["ResetType"].(string)
	act := b.system()["Actions"].(map[string]any)["#ComputerSystem.Reset"].(map[string]any)
	if !slices.Contains(allowable(act, "ResetType"), rt) {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.ActionParameterNotSupported", fmt.Sprintf("The parameter ResetType value %q is not supported by the action ComputerSystem.Reset.", rt))
		return
	}
	b.mu.Lock()
	q, wasOn := b.qemu, b.power == "On"
	b.mu.Unlock()
	if q != nil {
		if err := q.reset(rt, wasOn); err != nil {
			redfishErr(w, http.StatusInternalServerError, "Base.1.8.InternalError", "The request failed due to an internal service error: "+err.Error())
			return
		}
	}
	b.mu.Lock()
	switch rt {
	case "On", "ForceOn":
		b.power = "On"
	case "ForceOff", "GracefulShutdown":
		b.power = "Off"
	case "PushPowerButton":
		if b.power == "On" {
			b.power = "Off"
		} else {
			b.power = "On"
		}
	}
	b.actions = append(b.actions, "Reset "+rt)
	b.version++
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (b *RedfishBMC) patchBoot(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Boot map[string]string `json:"Boot"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Boot) == 0 {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON or has no Boot object.")
		return
	}
	sysBoot := b.system()["Boot"].(map[string]any)
	known := map[string][]string{
		"BootSourceOverrideTarget":  allowable(sysBoot, "BootSourceOverrideTarget"),
		"BootSourceOverrideEnabled": {"Disabled", "Once", "Continuous"},
		"BootSourceOverrideMode":    {"Legacy", "UEFI"},
	}
	for k, v := range in.Boot {
		vals, ok := known[k]
		if !ok {
			redfishErr(w, http.StatusBadRequest, "Base.1.8.PropertyNotWritable", "The property "+k+" is a read only property and cannot be assigned a value.")
			return
		}
		if !slices.Contains(vals, v) {
			redfishErr(w, http.StatusBadRequest, "Base.1.8.PropertyValueNotInList", fmt.Sprintf("The value %q for the property %s is not in the list of acceptable values.", v, k))
			return
		}
	}
	b.mu.Lock()
	if m := r.Header.Get("If-Match"); m != fmt.Sprintf(`W/"%d"`, b.version) {
		b.mu.Unlock()
		if m == "" {
			redfishErr(w, http.StatusPreconditionRequired, "Base.1.8.PreconditionRequired", "A precondition header or annotation is required to change this resource.")
		} else {
			redfishErr(w, http.StatusPreconditionFailed, "Base.1.8.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.")
		}
		return
	}
	t, ok := in.Boot["BootSourceOverrideTarget"]
	if in.Boot["BootSourceOverrideEnabled"] == "Disabled" {
		t, ok = "None", true
	}
	if ok && b.qemu != nil {
		if err := b.qemu.bootFrom(t); err != nil {
			b.mu.Unlock()
			redfishErr(w, http.StatusInternalServerError, "Base.1.8.InternalError", "The request failed due to an internal service error: "+err.Error())
			return
		}
	}
	b.version++
	for k, v := range in.Boot {
		b.boot[k] = v
	}
	b.actions = append(b.actions, fmt.Sprintf("Boot %s %s %s", in.Boot["BootSourceOverrideTarget"], in.Boot["BootSourceOverrideEnabled"], in.Boot["BootSourceOverrideMode"]))
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (b *RedfishBMC) isMedia(path string) bool {
	t, _ := b.files[path]["@odata.type"].(string)
	return strings.HasPrefix(t, "#VirtualMedia.v")
}

// mediaView is a VirtualMedia resource with the actions the mockup lacks (targets per
// the DMTF schema) and the medium as it is now.
func (b *RedfishBMC) mediaView(path string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	out["Actions"] = map[string]any{
		"#VirtualMedia.InsertMedia": map[string]any{"target": path + "/Actions/VirtualMedia.InsertMedia"},
		"#VirtualMedia.EjectMedia":  map[string]any{"target": path + "/Actions/VirtualMedia.EjectMedia"},
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.media[path] {
		out[k] = v
	}
	return out
}

func (b *RedfishBMC) mediaInserted(path string) bool {
	if st, ok := b.media[path]; ok {
		return st["Inserted"] == true
	}
	return b.files[path]["Inserted"] == true
}

func (b *RedfishBMC) insertMedia(w http.ResponseWriter, r *http.Request, path string) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	img, _ := in["Image"].(string)
	if img == "" {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.ActionParameterMissing", "The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.")
		return
	}
	var types []string
	for _, v := range b.files[path]["MediaTypes"].([]any) {
		types = append(types, fmt.Sprint(v))
	}
	if strings.HasSuffix(strings.ToLower(img), ".iso") && !slices.Contains(types, "CD") && !slices.Contains(types, "DVD") {
		redfishErr(w, http.StatusBadRequest, "Base.1.8.ActionParameterValueConflict", fmt.Sprintf("The image %s is a CD/DVD image; this device takes %s.", img, strings.Join(types, ", ")))
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mediaInserted(path) {
		redfishErr(w, http.StatusConflict, "Base.1.8.ResourceInUse", "The change to the requested resource failed because the resource is in use or in transition: a medium is inserted.")
		return
	}
	if b.qemu != nil {
		if err := b.qemu.insert(img); err != nil {
			redfishErr(w, http.StatusInternalServerError, "Base.1.8.InternalError", "The request failed due to an internal service error: "+err.Error())
			return
		}
	}
	b.media[path] = map[string]any{"Image": img, "Inserted": true}
	b.actions = append(b.actions, "InsertMedia "+path[strings.LastIndex(path, "/")+1:]+" "+img)
	w.WriteHeader(http.StatusNoContent)
}

func (b *RedfishBMC) ejectMedia(w http.ResponseWriter, path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.qemu != nil {
		if err := b.qemu.eject(); err != nil {
			redfishErr(w, http.StatusInternalServerError, "Base.1.8.InternalError", "The request failed due to an internal service error: "+err.Error())
			return
		}
	}
	b.media[path] = map[string]any{"Image": nil, "Inserted": false}
	b.actions = append(b.actions, "EjectMedia "+path[strings.LastIndex(path, "/")+1:])
	w.WriteHeader(http.StatusNoContent)
}
