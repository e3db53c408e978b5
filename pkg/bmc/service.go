package bmc

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/bmc/cred"
	"github.com/podboot/podboot/pkg/podmgr"
)

// controller is what the Service needs of a BMC driver.
type controller interface {
	PowerState(ctx context.Context) (PowerState, error)
	Power(ctx context.Context, a PowerAction) error
	SetBootDevice(ctx context.Context, d BootDevice, once, uefi bool) error
}

// Service runs BMC operations for hosts: it opens the host's sealed password, talks to
// the BMC with the host's driver, and records every operation (and its outcome) on the
// host's timeline and in the audit log.
type Service struct {
	mgr     *podmgr.Manager
	keys    *cred.Keyring
	log     *slog.Logger
	timeout time.Duration
	// media publishes hosts' stage1 ISOs for reprovision via virtual media; nil: none.
	media ISOPublisher
}

// NewService makes a Service; timeout bounds one BMC operation (0: DefaultTimeout).
func NewService(mgr *podmgr.Manager, keys *cred.Keyring, log *slog.Logger, timeout time.Duration) *Service {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Service{mgr: mgr, keys: keys, log: log, timeout: timeout}
}

// UseISOPublisher enables reprovision via virtual media through the API (call before
// serving Routes).
func (s *Service) UseISOPublisher(p ISOPublisher) { s.media = p }

// Settings is a BMC as the operator sets it: the password in clear, once.
type Settings struct {
	Driver      podmgr.BMCDriver `json:"driver"`
	Address     string           `json:"address"`
	Port        int              `json:"port,omitempty"`
	User        string           `json:"user"`
	Password    string           `json:"password"`
	InsecureTLS bool             `json:"insecureTls,omitempty"`
	CACert      string           `json:"caCert,omitempty"`
}

// Info is a BMC as the API shows it: never the password.
type Info struct {
	MAC         string           `json:"mac"`
	Driver      podmgr.BMCDriver `json:"driver"`
	Address     string           `json:"address"`
	Port        int              `json:"port,omitempty"`
	User        string           `json:"user"`
	InsecureTLS bool             `json:"insecureTls,omitempty"`
	CACert      bool             `json:"caCert"`
	UpdatedAt   time.Time        `json:"updatedAt"`
}

func infoOf(b podmgr.BMC) Info {
	return Info{MAC: b.MAC, Driver: b.Driver, Address: b.Address, Port: b.Port, User: b.User, InsecureTLS: b.InsecureTLS, CACert: b.CACert != "", UpdatedAt: b.UpdatedAt}
}

// Set seals the password and stores the host's BMC. Driver, user and password may be
// left empty: the host's pod's BMC defaults fill them in (endpointOf).
func (s *Service) Set(ctx context.Context, a podmgr.Actor, mac string, in Settings) (Info, error) {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return Info{}, err
	}
	if in.CACert != "" {
		if _, err := newRedfish(Endpoint{Address: in.Address, CACert: in.CACert}); err != nil {
			return Info{}, fmt.Errorf("%w: %v", podmgr.ErrInvalid, err)
		}
	}
	// Without a password (or user, driver) the host uses its pod's defaults.
	var sealed []byte
	if in.Password != "" {
		if sealed, err = s.keys.Seal(mac, []byte(in.Password)); err != nil {
			return Info{}, fmt.Errorf("seal bmc password of %s: %w", mac, err)
		}
	}
	b := podmgr.BMC{MAC: mac, Driver: in.Driver, Address: in.Address, Port: in.Port, User: in.User, Password: sealed, InsecureTLS: in.InsecureTLS, CACert: in.CACert}
	if err := s.mgr.SetBMC(ctx, a, b); err != nil {
		return Info{}, err
	}
	b, _, err = s.mgr.BMCOf(ctx, mac)
	return infoOf(b), err
}

// Show returns the host's BMC without its password.
func (s *Service) Show(ctx context.Context, mac string) (Info, error) {
	b, err := s.record(ctx, mac)
	return infoOf(b), err
}

func (s *Service) record(ctx context.Context, mac string) (podmgr.BMC, error) {
	b, ok, err := s.mgr.BMCOf(ctx, mac)
	if err != nil {
		return b, err
	}
	if !ok {
		return b, fmt.Errorf("%w: host %s has no BMC (podboot host bmc set)", podmgr.ErrNotFound, mac)
	}
	return b, nil
}

// open builds the driver for a host's BMC.
func (s *Service) open(ctx context.Context, mac string) (controller, podmgr.BMC, error) {
	b, err := s.record(ctx, mac)
	if err != nil {
		return nil, b, err
	}
	ep, err := s.endpointOf(ctx, b)
	if err != nil {
		return nil, b, err
	}
	b.Driver = podmgr.BMCDriver(ep.Driver)
	switch b.Driver {
	case podmgr.BMCIPMI:
		return ipmiBMC{ep}, b, nil
	case podmgr.BMCRedfish:
		r, err := newRedfish(ep)
		return r, b, err
	}
	return nil, b, fmt.Errorf("%w: bmc driver %q", ErrUnsupported, b.Driver)
}

// run does one BMC operation under the timeout and records it.
func (s *Service) run(ctx context.Context, a podmgr.Actor, mac, action string, fn func(context.Context, controller) (string, error)) error {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return err
	}
	c, b, err := s.open(ctx, mac)
	if err != nil {
		return err
	}
	if r, ok := c.(*redfishBMC); ok {
		defer r.close(ctx)
	}
	octx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	detail, err := fn(octx, c)
	took := time.Since(start).Round(time.Millisecond)
	outcome := "ok"
	if err != nil {
		outcome = "failed: " + err.Error()
	}
	if detail != "" {
		outcome = detail + "; " + outcome
	}
	s.log.Info("bmc operation", "mac", mac, "driver", b.Driver, "bmc", b.Address, "action", action, "took", took, "error", err)
	if rerr := s.mgr.RecordBMCAction(context.WithoutCancel(ctx), a, mac, "bmc."+action, fmt.Sprintf("%s via %s %s (%v)", outcome, b.Driver, b.Address, took)); rerr != nil {
		s.log.Warn("record bmc operation", "mac", mac, "action", action, "error", rerr)
	}
	if err != nil {
		return fmt.Errorf("host %s: bmc %s: %w", mac, action, err)
	}
	return nil
}

// PowerStatus asks the BMC whether the host is on.
func (s *Service) PowerStatus(ctx context.Context, a podmgr.Actor, mac string) (PowerState, error) {
	var st PowerState
	err := s.run(ctx, a, mac, "power.status", func(ctx context.Context, c controller) (string, error) {
		var err error
		st, err = c.PowerState(ctx)
		return string(st), err
	})
	return st, err
}

// Power switches the host.
func (s *Service) Power(ctx context.Context, a podmgr.Actor, mac string, act PowerAction) error {
	return s.run(ctx, a, mac, "power."+string(act), func(ctx context.Context, c controller) (string, error) {
		return "", c.Power(ctx, act)
	})
}

// BootDevice sets the host's next boot device.
func (s *Service) BootDevice(ctx context.Context, a podmgr.Actor, mac string, d BootDevice, once, uefi bool) error {
	return s.run(ctx, a, mac, "boot-device", func(ctx context.Context, c controller) (string, error) {
		return fmt.Sprintf("%s once=%v uefi=%v", d, once, uefi), c.SetBootDevice(ctx, d, once, uefi)
	})
}

// Reprovision sets the next boot to the network (UEFI when the host last booted UEFI,
// or when uefi says so), turns the host's netboot on as `host reprovision` does, and
// power-cycles it. Nothing is switched off unless the boot device was set first; a host
// that is off is powered on instead of cycled.
func (s *Service) Reprovision(ctx context.Context, a podmgr.Actor, mac string, uefi *bool) (podmgr.Host, error) {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return podmgr.Host{}, err
	}
	h, ok := s.mgr.Registry().Host(mac)
	if !ok {
		return podmgr.Host{}, fmt.Errorf("%w: host %s", podmgr.ErrNotFound, mac)
	}
	useUEFI := strings.Contains(strings.ToUpper(h.Arch), "EFI")
	if uefi != nil {
		useUEFI = *uefi
	}
	if err := s.BootDevice(ctx, a, mac, BootPXE, true, useUEFI); err != nil {
		return podmgr.Host{}, fmt.Errorf("reprovision: %w (nothing was power-cycled)", err)
	}
	st, err := s.PowerStatus(ctx, a, mac)
	if err != nil {
		return podmgr.Host{}, fmt.Errorf("reprovision: %w (nothing was power-cycled)", err)
	}
	h, err = s.mgr.Reprovision(ctx, a, mac)
	if err != nil {
		return podmgr.Host{}, err
	}
	act := PowerCycle
	if st == StateOff {
		act = PowerOn
	}
	if err := s.Power(ctx, a, mac, act); err != nil {
		return h, fmt.Errorf("reprovision: netboot is on and the next boot is PXE, but %w", err)
	}
	return h, nil
}

// mediaController is a driver that maps virtual media (Redfish; IPMI has none).
type mediaController interface {
	InsertMedia(ctx context.Context, image string) error
	EjectMedia(ctx context.Context) error
}

// InsertMedia maps image (an http or https URL the BMC can fetch) as the host's
// virtual CD.
func (s *Service) InsertMedia(ctx context.Context, a podmgr.Actor, mac, image string) error {
	u, err := url.Parse(image)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: image %q: want an http or https URL the BMC can fetch", podmgr.ErrInvalid, image)
	}
	return s.run(ctx, a, mac, "media.insert", func(ctx context.Context, c controller) (string, error) {
		mc, ok := c.(mediaController)
		if !ok {
			return "", fmt.Errorf("%w: virtual media needs the redfish driver", ErrUnsupported)
		}
		return u.Redacted(), mc.InsertMedia(ctx, image)
	})
}

// EjectMedia removes the host's virtual CD.
func (s *Service) EjectMedia(ctx context.Context, a podmgr.Actor, mac string) error {
	return s.run(ctx, a, mac, "media.eject", func(ctx context.Context, c controller) (string, error) {
		mc, ok := c.(mediaController)
		if !ok {
			return "", fmt.Errorf("%w: virtual media needs the redfish driver", ErrUnsupported)
		}
		return "", mc.EjectMedia(ctx)
	})
}
