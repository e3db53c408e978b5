package pxe

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/podboot/podboot/pkg/agentproto"
	"github.com/podboot/podboot/pkg/podmgr"
)

// hostparams.go serves the per-host kernel parameters that the Secure Boot full chain
// cannot sign (docs/secure-boot.md): one UKI serves every host of a profile, so its
// command line says podboot.token=fetch and the agent asks here, over HTTPS only, for
// its pod, MAC and provisioning token. The request is gated like the iPXE script: the
// host must netboot, ask from its leased or reserved address (a NAT pod: through the
// token gate's exchange binding), and each token replaces the previous one.

// hostParamsPrefix is followed by the host's MAC (52-54-00-12-34-56): the agent knows
// its MAC, not its pod.
const hostParamsPrefix = "params/"

// paramsDetail is the timeline's record of what the full chain authenticated.
const paramsDetail = "host parameters and token served over HTTPS to the agent of the signed UKI (Secure Boot full chain: kernel, initrd and command line authenticated by the firmware)"

// serveHostParams answers GET /boot/params/MAC on the HTTPS listener.
func (s *Service) serveHostParams(w http.ResponseWriter, r *http.Request, macPath string, src netip.Addr) {
	if r.TLS == nil || r.Method != http.MethodGet {
		s.httpRefuse(w, target{}, refusePath, src, r.URL.Path) // the token never travels in clear
		return
	}
	mac, err := podmgr.MACFromPath(macPath)
	if err != nil {
		s.httpRefuse(w, target{}, refusePath, src, r.URL.Path)
		return
	}
	h, ok := s.reg.Host(mac)
	if !ok {
		s.httpRefuse(w, target{}, refuseHost, src, r.URL.Path)
		return
	}
	t, why := s.gate(bootPath{pod: h.Pod, mac: mac}, src)
	if why == "" && t.prof.SecureBoot != podmgr.SecureBootFull {
		why = refuseOnboarding // only the full chain's agent has no token on its command line
	}
	if why != "" {
		s.httpRefuse(w, t, why, src, r.URL.Path)
		return
	}
	if err := s.ownerCheck(t); err != nil {
		s.notOwner(w, r, t, err)
		return
	}
	step := podmgr.HostStep{Source: src.String(), Action: "https.params", Detail: paramsDetail, State: podmgr.StateBooting}
	token, recorded, withheld, err := s.issueToken(r.Context(), t, step, src, "host parameters refused: no token")
	if err != nil {
		s.scriptFailed(w, r, t, "host parameters: issue host token", err)
		return
	}
	if withheld != "" || token == "" {
		s.httpRefuse(w, t, refusal("token_"+withheld), src, r.URL.Path)
		return
	}
	body := fmt.Sprintf("%s=%s %s=%s %s=%s\n", agentproto.ParamPod, t.pc.Pod.Name, agentproto.ParamMAC, t.host.MAC, agentproto.ParamToken, token)
	h2 := w.Header()
	h2.Set("Content-Type", "text/plain; charset=utf-8")
	h2.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write([]byte(body))
	s.m.httpBytes.WithLabelValues(t.pc.Pod.Name).Add(float64(n))
	s.m.httpRequests.WithLabelValues(t.pc.Pod.Name, "params", "200").Inc()
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "host parameters served", append(scriptAttrs(t), slog.String("source", src.String()))...)
	if !recorded {
		s.recordEvent(step.Source, step.Action, step.Detail, t, step.State)
	}
}

// isHostParamsPath reports whether rest (after /boot/) is params/MAC.
func isHostParamsPath(rest string) (string, bool) {
	mac, ok := strings.CutPrefix(rest, hostParamsPrefix)
	return mac, ok && !strings.Contains(mac, "/")
}
