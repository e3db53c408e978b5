package agent

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/podboot/podboot/pkg/agent/ipmi"
	"github.com/podboot/podboot/pkg/agent/kmod"
	"github.com/podboot/podboot/pkg/agentproto"
)

// readBMC reports the BMC's LAN address when the machine has an IPMI system interface:
// ipmi_si is loaded by modalias (ACPI IPI0001, SMBIOS type 38) like any driver; the
// character device needs ipmi_devintf, which has no modalias, so it is loaded here.
// nil when there is no BMC, it does not answer, or no LAN channel has an address.
func readBMC(ctx context.Context, l *kmod.Loader, log *slog.Logger) *agentproto.BMC {
	if _, err := os.Stat("/sys/module/ipmi_si"); err != nil {
		return nil // no IPMI system interface found (or none packed)
	}
	if l != nil && l.Table().Has("ipmi_devintf") {
		if err := l.Load("ipmi_devintf"); err != nil {
			log.Warn("IPMI: load ipmi_devintf", "err", err)
		}
	}
	const dev = "/dev/ipmi0"
	for deadline := time.Now().Add(3 * time.Second); ; {
		if _, err := os.Stat(dev); err == nil {
			break
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 100*time.Millisecond) {
			log.Info("IPMI: no /dev/ipmi0; BMC address not reported")
			return nil
		}
	}
	d, err := ipmi.Open(dev)
	if err != nil {
		log.Warn("IPMI: open", "err", err)
		return nil
	}
	defer d.Close()
	lan, ok, err := d.QueryLAN(2 * time.Second)
	if err != nil || !ok {
		log.Info("IPMI: no BMC LAN address", "err", err)
		return nil
	}
	b := &agentproto.BMC{Address: lan.Address.String(), MAC: lan.MAC, Source: lan.Source, Channel: lan.Channel}
	if lan.Netmask.IsValid() {
		b.Netmask = lan.Netmask.String()
	}
	if lan.Gateway.IsValid() && !lan.Gateway.IsUnspecified() {
		b.Gateway = lan.Gateway.String()
	}
	log.Info("BMC LAN address", "address", b.Address, "channel", b.Channel, "source", b.Source)
	return b
}
