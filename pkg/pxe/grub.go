package pxe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"text/template"

	"github.com/pin/tftp/v3"
	"github.com/podboot/podboot/artifacts"
	"github.com/podboot/podboot/pkg/podmgr"
)

// grub.go serves the grub configuration of the Secure Boot distro chain over TFTP
// (docs/secure-boot.md): the one global grub/grub.cfg that Debian's grubnetx64 always
// reads (its compiled prefix is /grub), which chains to the directory of the host's
// DHCP boot file, and there the per-host POD/MAC/grub.cfg rendered from
// artifacts/templates/grub.tmpl, gated like every other file.

// globalGrubConfig is the same for every host and names nothing: $cmdpath is grub's
// (tftp,SERVER)POD/MAC, taken from the DHCP boot file.
const globalGrubConfig = "# podboot: chain to the host's own grub.cfg (the directory of its DHCP boot file)\nconfigfile $cmdpath/grub.cfg\n"

// grubDetail is the timeline's record of what the distro chain does not authenticate.
const grubDetail = "grub.cfg served; Secure Boot distro chain: shim verifies grub, grub verifies the kernel, the initrd is NOT authenticated"

// isGlobalGrubConfig: grub asks for $prefix/grub.cfg, with or without the leading slash.
func isGlobalGrubConfig(name string) bool {
	return name == podmgr.GlobalGrubConfig || name == "/"+podmgr.GlobalGrubConfig
}

func parseGrubTemplate() (*template.Template, error) {
	t, err := template.New("grub").Option("missingkey=error").Parse(artifacts.GrubTemplate())
	if err != nil {
		return nil, fmt.Errorf("shipped grub template: %w", err)
	}
	return t, nil
}

// tftpSendBytes answers a read request with b (a rendered file, never an artifact).
func tftpSendBytes(rf io.ReaderFrom, b []byte) (int64, error) {
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(int64(len(b)))
	}
	return rf.ReadFrom(bytes.NewReader(b))
}

// tftpGlobalGrub sends the global grub/grub.cfg to anyone: it is the same for every host.
func (s *Service) tftpGlobalGrub(rf io.ReaderFrom, src netip.Addr) error {
	n, err := tftpSendBytes(rf, []byte(globalGrubConfig))
	s.log.Debug("tftp sent global grub.cfg", "source", src.String(), "bytes", n, "err", err)
	return nil
}

// tftpHostGrub renders and sends a host's grub.cfg (the gate has passed): only for a
// Secure Boot distro profile. It carries the host's provisioning token on the kernel
// command line, issued as for the iPXE script.
func (s *Service) tftpHostGrub(rf io.ReaderFrom, t target, src netip.Addr, filename string) error {
	pod := t.pc.Pod.Name
	if t.prof.SecureBoot != podmgr.SecureBootDistro || t.prof.Kernel == "" || t.prof.Initrd == "" {
		return s.tftpRefuse(t, refuseOnboarding, src, filename)
	}
	ctx := context.Background()
	step := podmgr.HostStep{Source: src.String(), Action: "tftp.grubcfg", Detail: grubDetail, State: podmgr.StateBooting}
	token, recorded, withheld, err := s.issueToken(ctx, t, step, src, "grub.cfg served without a token")
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "grub.cfg: issue host token", append(scriptAttrs(t), slog.Any("err", err))...)
		return errTFTPNotFound
	}
	var b bytes.Buffer
	if err := s.grub.Execute(&b, s.scriptData(t, token)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "grub.cfg: render", append(scriptAttrs(t), slog.Any("err", err))...)
		return errTFTPNotFound
	}
	n, err := tftpSendBytes(rf, b.Bytes())
	s.m.tftpBytes.WithLabelValues(pod).Add(float64(n))
	if err != nil {
		s.m.tftpTransfers.WithLabelValues(pod, "failed").Inc()
		s.logTransfer(slog.LevelWarn, "tftp transfer failed", t, podmgr.GrubConfigName, src, n, slog.Any("err", err))
		return nil
	}
	s.m.tftpTransfers.WithLabelValues(pod, "ok").Inc()
	s.logTransfer(slog.LevelInfo, "tftp sent", t, podmgr.GrubConfigName, src, n)
	if !recorded && withheld == "" {
		s.recordEvent(step.Source, step.Action, step.Detail, t, step.State)
	}
	return nil
}
