package bmc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/podmgr"
)

// PowerRequest asks for a power action (POST /api/v1/hosts/{mac}/power).
type PowerRequest struct {
	Action PowerAction `json:"action"`
}

// PowerResult answers a power status or action.
type PowerResult struct {
	MAC   string     `json:"mac"`
	State PowerState `json:"state,omitempty"`
}

// BootDeviceRequest sets the next boot device (PUT /api/v1/hosts/{mac}/boot-device).
type BootDeviceRequest struct {
	Device BootDevice `json:"device"`
	Once   bool       `json:"once"`
	UEFI   bool       `json:"uefi"`
}

// MediaRequest maps an image as the host's virtual CD (PUT /api/v1/hosts/{mac}/virtual-media).
type MediaRequest struct {
	Image string `json:"image"`
}

// ReprovisionRequest is POST /api/v1/hosts/{mac}/bmc/reprovision; UEFI nil: as the host
// last booted. Via is how the host boots stage1: ViaNetwork (default) or ViaVirtualMedia.
type ReprovisionRequest struct {
	UEFI *bool  `json:"uefi,omitempty"`
	Via  string `json:"via,omitempty"`
}

// The ways ReprovisionRequest.Via names.
const (
	ViaNetwork      = "network"
	ViaVirtualMedia = "virtual-media"
)

// Routes are the BMC routes of the management API. Everything that talks to a BMC is
// for operators and admins only; a viewer may see which BMC a host has, never its
// password (which no route returns).
func (s *Service) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/hosts/import", Allow: api.Changers(), Handler: s.postImport},
		{Method: "GET", Path: "/api/v1/hosts/{mac}/bmc", Allow: api.Readers(), Handler: s.getBMC},
		{Method: "PUT", Path: "/api/v1/hosts/{mac}/bmc", Allow: api.Changers(), Handler: s.putBMC},
		{Method: "GET", Path: "/api/v1/hosts/{mac}/power", Allow: api.Changers(), Handler: s.getPower},
		{Method: "POST", Path: "/api/v1/hosts/{mac}/power", Allow: api.Changers(), Handler: s.postPower},
		{Method: "PUT", Path: "/api/v1/hosts/{mac}/boot-device", Allow: api.Changers(), Handler: s.putBootDevice},
		{Method: "POST", Path: "/api/v1/hosts/{mac}/bmc/reprovision", Allow: api.Changers(), Handler: s.postReprovision},
		{Method: "PUT", Path: "/api/v1/hosts/{mac}/virtual-media", Allow: api.Changers(), Handler: s.putMedia},
		{Method: "DELETE", Path: "/api/v1/hosts/{mac}/virtual-media", Allow: api.Changers(), Handler: s.deleteMedia},
		{Method: "GET", Path: "/api/v1/pods/{name}/bmc", Allow: api.Readers(), Handler: s.getPodBMC},
		{Method: "PUT", Path: "/api/v1/pods/{name}/bmc", Allow: api.Changers(), Handler: s.putPodBMC},
		{Method: "DELETE", Path: "/api/v1/pods/{name}/bmc", Allow: api.Changers(), Handler: s.deletePodBMC},
	}
}

func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrAuth):
		api.WriteError(w, http.StatusBadGateway, err)
	case errors.Is(err, ErrUnreachable):
		api.WriteError(w, http.StatusGatewayTimeout, err)
	case errors.Is(err, ErrUnsupported):
		api.WriteError(w, http.StatusNotImplemented, err)
	default:
		api.WriteServerErr(w, r, s.log, err)
	}
}

func (s *Service) getBMC(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	info, err := s.Show(r.Context(), r.PathValue("mac"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, info)
}

func (s *Service) putBMC(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in Settings
	if !api.DecodeJSONLimit(w, r, &in, 64<<10) {
		return
	}
	info, err := s.Set(r.Context(), a, r.PathValue("mac"), in)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, info)
}

func (s *Service) getPower(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	st, err := s.PowerStatus(r.Context(), a, r.PathValue("mac"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, PowerResult{MAC: r.PathValue("mac"), State: st})
}

func (s *Service) postPower(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in PowerRequest
	if !api.DecodeJSONLimit(w, r, &in, 4<<10) {
		return
	}
	act, err := ParsePowerAction(string(in.Action))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.Power(r.Context(), a, r.PathValue("mac"), act); err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, PowerResult{MAC: r.PathValue("mac")})
}

func (s *Service) putBootDevice(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in BootDeviceRequest
	if !api.DecodeJSONLimit(w, r, &in, 4<<10) {
		return
	}
	d, err := ParseBootDevice(string(in.Device))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.BootDevice(r.Context(), a, r.PathValue("mac"), d, in.Once, in.UEFI); err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, in)
}

func (s *Service) postReprovision(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in ReprovisionRequest
	if r.ContentLength != 0 && !api.DecodeJSONLimit(w, r, &in, 4<<10) {
		return
	}
	var h podmgr.Host
	var err error
	switch in.Via {
	case "", ViaNetwork:
		h, err = s.Reprovision(r.Context(), a, r.PathValue("mac"), in.UEFI)
	case ViaVirtualMedia:
		if s.media == nil {
			api.WriteError(w, http.StatusNotImplemented, errors.New("virtual media is not enabled on this server"))
			return
		}
		h, err = s.ReprovisionVirtualMedia(r.Context(), a, r.PathValue("mac"), s.media, in.UEFI)
	default:
		api.WriteError(w, http.StatusBadRequest, fmt.Errorf("via %q: want %s or %s", in.Via, ViaNetwork, ViaVirtualMedia))
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	h.TokenHash = ""
	api.WriteJSON(w, http.StatusOK, h)
}

func (s *Service) putMedia(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in MediaRequest
	if !api.DecodeJSONLimit(w, r, &in, 8<<10) {
		return
	}
	if err := s.InsertMedia(r.Context(), a, r.PathValue("mac"), in.Image); err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, in)
}

func (s *Service) deleteMedia(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	if err := s.EjectMedia(r.Context(), a, r.PathValue("mac")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) getPodBMC(w http.ResponseWriter, r *http.Request, _ podmgr.Actor) {
	info, err := s.ShowPodDefaults(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, info)
}

func (s *Service) putPodBMC(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	var in PodSettings
	if !api.DecodeJSONLimit(w, r, &in, 64<<10) {
		return
	}
	info, err := s.SetPodDefaults(r.Context(), a, r.PathValue("name"), in)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, info)
}

func (s *Service) deletePodBMC(w http.ResponseWriter, r *http.Request, a podmgr.Actor) {
	if err := s.mgr.DeletePodBMC(r.Context(), a, r.PathValue("name")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
