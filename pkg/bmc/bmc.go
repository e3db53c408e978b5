// Package bmc drives hosts' baseboard management controllers out of band: power and
// the next boot device, over IPMI (RMCP+ lanplus, github.com/bougou/go-ipmi) or
// Redfish (HTTPS, a small client of our own). It is what turns `host reprovision` from
// "flip a flag and wait for someone at the site" into "set PXE, power-cycle, watch".
//
// Errors are sorted into three kinds a caller can act on: ErrAuth (the BMC refused the
// credentials), ErrUnreachable (no answer within the timeout), ErrUnsupported (the BMC
// answered but cannot do this). Each operation has a deadline; retries are bounded and
// never repeat a request the BMC may already have acted on.
package bmc

import (
	"errors"
	"fmt"
	"time"
)

// PowerAction is what `host power` asks for.
type PowerAction string

const (
	PowerOn    PowerAction = "on"
	PowerOff   PowerAction = "off"
	PowerCycle PowerAction = "cycle"
	PowerReset PowerAction = "reset"
	PowerSoft  PowerAction = "soft"
)

// PowerState is what the BMC reports.
type PowerState string

const (
	StateOn  PowerState = "on"
	StateOff PowerState = "off"
)

// BootDevice is the next boot source.
type BootDevice string

const (
	BootPXE  BootDevice = "pxe"
	BootHTTP BootDevice = "http"
	BootDisk BootDevice = "disk"
	BootCD   BootDevice = "cd"
)

// ParsePowerAction checks s.
func ParsePowerAction(s string) (PowerAction, error) {
	switch a := PowerAction(s); a {
	case PowerOn, PowerOff, PowerCycle, PowerReset, PowerSoft:
		return a, nil
	}
	return "", fmt.Errorf("power action %q: want on, off, cycle, reset or soft", s)
}

// ParseBootDevice checks s.
func ParseBootDevice(s string) (BootDevice, error) {
	switch d := BootDevice(s); d {
	case BootPXE, BootHTTP, BootDisk, BootCD:
		return d, nil
	}
	return "", fmt.Errorf("boot device %q: want pxe, http, disk or cd", s)
}

var (
	// ErrAuth: the BMC refused the user name or password.
	ErrAuth = errors.New("bmc auth failed")
	// ErrUnreachable: the BMC did not answer in time.
	ErrUnreachable = errors.New("bmc unreachable")
	// ErrUnsupported: the BMC answered but does not support the action.
	ErrUnsupported = errors.New("bmc action not supported")
)

// Endpoint is a BMC with its password in clear, as the drivers need it.
type Endpoint struct {
	Driver      string
	Address     string
	Port        int
	User        string
	Password    string
	InsecureTLS bool
	CACert      string // PEM
	// Timeout bounds one operation, retries included (0: DefaultTimeout).
	Timeout time.Duration
}

// DefaultTimeout bounds one BMC operation.
const DefaultTimeout = 15 * time.Second

func (e Endpoint) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return DefaultTimeout
}
