package bmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// ipmiBMC speaks IPMI v2.0 RMCP+ with cipher suite 3 (HMAC-SHA1, HMAC-SHA1-96,
// AES-CBC-128): the suite every BMC supports, and the only one go-ipmi v0.9.1 gets
// through with OpenIPMI (without it go-ipmi spends 4 s probing suites first). Each
// operation opens its own session and closes it.
type ipmiBMC struct{ ep Endpoint }

// ipmiTry is one UDP round trip's wait; go-ipmi retries ipmiRetries more times.
const (
	ipmiTry     = 2 * time.Second
	ipmiRetries = 2
)

func (b ipmiBMC) session(ctx context.Context, fn func(*client.Client) error) error {
	port := b.ep.Port
	if port == 0 {
		port = 623
	}
	c, err := client.NewClient(b.ep.Address, port, b.ep.User, b.ep.Password)
	if err != nil {
		return fmt.Errorf("ipmi %s: %w", b.ep.Address, err)
	}
	c.WithTimeout(ipmiTry).WithRetry(ipmiRetries).WithCipherSuiteID(types.CipherSuiteID3).WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("ipmi %s:%d: open session: %w", b.ep.Address, port, classifyIPMI(ctx, err))
	}
	defer c.Close(context.WithoutCancel(ctx))
	if err := fn(c); err != nil {
		return fmt.Errorf("ipmi %s:%d: %w", b.ep.Address, port, classifyIPMI(ctx, err))
	}
	return nil
}

// classifyIPMI sorts go-ipmi's errors (plain text, few types) into our three kinds.
func classifyIPMI(ctx context.Context, err error) error {
	msg := err.Error()
	var ne net.Error
	switch {
	case strings.Contains(msg, "RAKP") || strings.Contains(msg, "authentication") || strings.Contains(strings.ToLower(msg), "unauthorized name"): // go-ipmi: "Unauthorized name" for an unknown user
		return fmt.Errorf("%w: %v", ErrAuth, err)
	case ctx.Err() != nil || errors.As(err, &ne) || strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline") || strings.Contains(msg, "i/o") || strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	case strings.Contains(msg, "0xc1") || strings.Contains(msg, "0xcc") || strings.Contains(msg, "0xc9") || strings.Contains(msg, "0xd5"):
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return err
}

func (b ipmiBMC) PowerState(ctx context.Context) (PowerState, error) {
	var st PowerState
	err := b.session(ctx, func(c *client.Client) error {
		r, err := c.GetChassisStatus(ctx)
		if err != nil {
			return fmt.Errorf("chassis status: %w", err)
		}
		st = StateOff
		if r.PowerIsOn {
			st = StateOn
		}
		return nil
	})
	return st, err
}

var ipmiControl = map[PowerAction]chassis.ChassisControl{
	PowerOn:    chassis.ChassisControlPowerUp,
	PowerOff:   chassis.ChassisControlPowerDown,
	PowerCycle: chassis.ChassisControlPowerCycle,
	PowerReset: chassis.ChassisControlHardReset,
	PowerSoft:  chassis.ChassisControlSoftShutdown,
}

func (b ipmiBMC) Power(ctx context.Context, a PowerAction) error {
	ctl, ok := ipmiControl[a]
	if !ok {
		return fmt.Errorf("%w: power %s", ErrUnsupported, a)
	}
	return b.session(ctx, func(c *client.Client) error {
		if _, err := c.ChassisControl(ctx, ctl); err != nil {
			return fmt.Errorf("chassis control %s: %w", a, err)
		}
		return nil
	})
}

var ipmiDevice = map[BootDevice]types.BootDeviceSelector{
	BootPXE:  types.BootDeviceSelectorForcePXE,
	BootDisk: types.BootDeviceSelectorForceHardDrive,
	BootCD:   types.BootDeviceSelectorForceCDROM,
}

func (b ipmiBMC) SetBootDevice(ctx context.Context, d BootDevice, once, uefi bool) error {
	sel, ok := ipmiDevice[d]
	if !ok {
		return fmt.Errorf("%w: IPMI has no boot device %q (use redfish for HTTP boot)", ErrUnsupported, d)
	}
	bt := types.BIOSBootTypeLegacy
	if uefi {
		bt = types.BIOSBootTypeEFI
	}
	return b.session(ctx, func(c *client.Client) error {
		if err := c.SetBootDevice(ctx, sel, bt, !once); err != nil {
			return fmt.Errorf("set boot device %s: %w", d, err)
		}
		return nil
	})
}
