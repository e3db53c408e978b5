package bmc

import (
	"context"
	"fmt"
	"time"

	"github.com/podboot/podboot/pkg/podmgr"
)

// PodSettings are a pod's BMC defaults as `pod apply` sends them. An empty Password
// keeps the one already stored, so re-applying a pod file without the password file
// changes nothing secret.
type PodSettings struct {
	Driver      podmgr.BMCDriver `json:"driver,omitempty"`
	Port        int              `json:"port,omitempty"`
	User        string           `json:"user,omitempty"`
	Password    string           `json:"password,omitempty"`
	InsecureTLS bool             `json:"insecureTls,omitempty"`
	CACert      string           `json:"caCert,omitempty"`
}

// PodInfo is a pod's BMC defaults as the API shows them: whether a password is set,
// never the password.
type PodInfo struct {
	Pod         string           `json:"pod"`
	Driver      podmgr.BMCDriver `json:"driver,omitempty"`
	Port        int              `json:"port,omitempty"`
	User        string           `json:"user,omitempty"`
	PasswordSet bool             `json:"passwordSet"`
	InsecureTLS bool             `json:"insecureTls,omitempty"`
	CACert      bool             `json:"caCert"`
	UpdatedAt   time.Time        `json:"updatedAt"`
}

func podInfoOf(b podmgr.PodBMC) PodInfo {
	return PodInfo{Pod: b.Pod, Driver: b.Driver, Port: b.Port, User: b.User, PasswordSet: len(b.Password) > 0, InsecureTLS: b.InsecureTLS, CACert: b.CACert != "", UpdatedAt: b.UpdatedAt}
}

// SetPodDefaults seals the password (bound to the pod's name) and stores the pod's
// BMC defaults; without a password the stored one is kept.
func (s *Service) SetPodDefaults(ctx context.Context, a podmgr.Actor, pod string, in PodSettings) (PodInfo, error) {
	if in.CACert != "" {
		if _, err := newRedfish(Endpoint{Address: "bmc", CACert: in.CACert}); err != nil {
			return PodInfo{}, fmt.Errorf("%w: pod %s: %v", podmgr.ErrInvalid, pod, err)
		}
	}
	b := podmgr.PodBMC{Pod: pod, Driver: in.Driver, Port: in.Port, User: in.User, InsecureTLS: in.InsecureTLS, CACert: in.CACert}
	if in.Password != "" {
		sealed, err := s.keys.Seal(podmgr.PodBMCSealKey(pod), []byte(in.Password))
		if err != nil {
			return PodInfo{}, fmt.Errorf("seal bmc password of pod %s: %w", pod, err)
		}
		b.Password = sealed
	} else if old, ok, err := s.mgr.PodBMCOf(ctx, pod); err != nil {
		return PodInfo{}, err
	} else if ok {
		b.Password = old.Password
	}
	if err := s.mgr.SetPodBMC(ctx, a, b); err != nil {
		return PodInfo{}, err
	}
	return s.ShowPodDefaults(ctx, pod)
}

// ShowPodDefaults returns a pod's BMC defaults without the password.
func (s *Service) ShowPodDefaults(ctx context.Context, pod string) (PodInfo, error) {
	b, ok, err := s.mgr.PodBMCOf(ctx, pod)
	if err != nil {
		return PodInfo{}, err
	}
	if !ok {
		return PodInfo{}, fmt.Errorf("%w: pod %s has no bmc defaults", podmgr.ErrNotFound, pod)
	}
	return podInfoOf(b), nil
}

// endpointOf merges a host's BMC record with its pod's defaults, the host winning field
// by field: driver, port and user when set; the password when the host has one; the
// TLS mode (insecureTls or caCert) when the host sets either. The address is always
// the host's.
func (s *Service) endpointOf(ctx context.Context, b podmgr.BMC) (Endpoint, error) {
	ep := Endpoint{Driver: string(b.Driver), Address: b.Address, Port: b.Port, User: b.User, InsecureTLS: b.InsecureTLS, CACert: b.CACert, Timeout: s.timeout}
	var pd podmgr.PodBMC
	if h, ok := s.mgr.Registry().Host(b.MAC); ok {
		var err error
		if pd, _, err = s.mgr.PodBMCOf(ctx, h.Pod); err != nil {
			return ep, fmt.Errorf("bmc defaults of pod %s: %w", h.Pod, err)
		}
	}
	if ep.Driver == "" {
		ep.Driver = string(pd.Driver)
	}
	if ep.Port == 0 {
		ep.Port = pd.Port
	}
	if ep.User == "" {
		ep.User = pd.User
	}
	if !ep.InsecureTLS && ep.CACert == "" {
		ep.InsecureTLS, ep.CACert = pd.InsecureTLS, pd.CACert
	}
	var pw []byte
	var err error
	switch {
	case len(b.Password) > 0:
		pw, err = s.keys.Open(b.MAC, b.Password)
	case len(pd.Password) > 0:
		pw, err = s.keys.Open(podmgr.PodBMCSealKey(pd.Pod), pd.Password)
	}
	if err != nil {
		return ep, err
	}
	ep.Password = string(pw)
	for _, f := range []struct{ name, v string }{{"driver", ep.Driver}, {"user", ep.User}, {"password", ep.Password}} {
		if f.v == "" {
			return ep, fmt.Errorf("%w: host %s: bmc %s is set neither on the host (host bmc set) nor in its pod's bmc defaults (pod apply)", podmgr.ErrInvalid, b.MAC, f.name)
		}
	}
	return ep, nil
}
