package bmc

import (
	"context"
	"fmt"
	"strings"

	"github.com/podboot/podboot/pkg/podmgr"
)

// ISOPublisher makes a host's stage1 ISO around its new provisioning token and returns
// the URL its BMC fetches it from (pkg/vmedia); WithdrawISO ends that URL; HasISO says
// whether the host has one out. CheckISO says why the host cannot have one (no
// provisioningIp, no stage1 in its profile), before anything is changed.
type ISOPublisher interface {
	CheckISO(h podmgr.Host) error
	PublishISO(ctx context.Context, h podmgr.Host, token string) (string, error)
	WithdrawISO(mac string)
	HasISO(mac string) bool
}

// ReprovisionVirtualMedia is Reprovision with no DHCP: netboot on, a new provisioning
// token, the host's stage1 ISO published and inserted as its virtual CD, the next boot
// set to the CD once, then a power cycle (power on when off). Nothing is power-cycled
// unless the media, the boot device and the power state all succeeded first; a failure
// after the insert ejects the media and withdraws the ISO.
func (s *Service) ReprovisionVirtualMedia(ctx context.Context, a podmgr.Actor, mac string, pub ISOPublisher, uefi *bool) (podmgr.Host, error) {
	mac, err := podmgr.NormalizeMAC(mac)
	if err != nil {
		return podmgr.Host{}, err
	}
	h, ok := s.mgr.Registry().Host(mac)
	if !ok {
		return podmgr.Host{}, fmt.Errorf("%w: host %s", podmgr.ErrNotFound, mac)
	}
	if b, err := s.record(ctx, mac); err != nil {
		return h, err
	} else if b.Driver != podmgr.BMCRedfish {
		return h, fmt.Errorf("%w: host %s: virtual media needs the redfish driver, not %s (nothing was changed)", ErrUnsupported, mac, b.Driver)
	}
	if err := pub.CheckISO(h); err != nil {
		return h, fmt.Errorf("reprovision via virtual media: %w (nothing was changed)", err)
	}
	useUEFI := strings.Contains(strings.ToUpper(h.Arch), "EFI")
	if uefi != nil {
		useUEFI = *uefi
	}
	if h, err = s.mgr.Reprovision(ctx, a, mac); err != nil {
		return h, err
	}
	token, err := s.mgr.IssueHostToken(ctx, mac, "bmc", 0)
	if err != nil {
		return h, fmt.Errorf("reprovision via virtual media: %w", err)
	}
	url, err := pub.PublishISO(ctx, h, token)
	if err != nil {
		return h, fmt.Errorf("reprovision via virtual media: %w (nothing was power-cycled)", err)
	}
	undo := func(cause error) (podmgr.Host, error) {
		if err := s.EjectMedia(context.WithoutCancel(ctx), a, mac); err != nil {
			s.log.Warn("eject after a failed reprovision", "host", mac, "error", err)
		}
		pub.WithdrawISO(mac)
		return h, fmt.Errorf("reprovision via virtual media: %w (nothing was power-cycled; media ejected)", cause)
	}
	if err := s.InsertMedia(ctx, a, mac, url); err != nil {
		pub.WithdrawISO(mac)
		return h, fmt.Errorf("reprovision via virtual media: %w (nothing was power-cycled)", err)
	}
	if err := s.BootDevice(ctx, a, mac, BootCD, true, useUEFI); err != nil {
		return undo(err)
	}
	st, err := s.PowerStatus(ctx, a, mac)
	if err != nil {
		return undo(err)
	}
	act := PowerCycle
	if st == StateOff {
		act = PowerOn
	}
	if err := s.Power(ctx, a, mac, act); err != nil {
		return h, fmt.Errorf("reprovision via virtual media: the ISO is inserted and the next boot is the CD, but %w", err)
	}
	return h, nil
}

// FinishVirtualMedia ends a virtual-media provision (after `installed`): it ejects the
// media, switches the boot override off and withdraws the ISO. The ISO is withdrawn
// even when the BMC fails; the first error is returned.
func (s *Service) FinishVirtualMedia(ctx context.Context, a podmgr.Actor, mac string, pub ISOPublisher) error {
	defer pub.WithdrawISO(mac)
	if err := s.EjectMedia(ctx, a, mac); err != nil {
		return err
	}
	return s.run(ctx, a, mac, "boot-override.clear", func(ctx context.Context, c controller) (string, error) {
		rf, ok := c.(*redfishBMC)
		if !ok {
			return "", fmt.Errorf("%w: virtual media needs the redfish driver", ErrUnsupported)
		}
		return "", rf.ClearBootOverride(ctx)
	})
}
