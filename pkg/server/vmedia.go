package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
	"github.com/podboot/podboot/pkg/pxe"
	"github.com/podboot/podboot/pkg/stage1iso"
	"github.com/podboot/podboot/pkg/vmedia"
)

// MediaDir holds the published virtual-media ISOs inside the data dir. Its files only
// live as long as the process that published them, so it is emptied on start.
const MediaDir = "vmedia"

// openMedia makes the store of per-host stage1 ISOs that the boot HTTPS listener serves
// under /vmedia/ (run before pxe.New).
func (s *Server) openMedia() error {
	dir := filepath.Join(s.cfg.DataDir, MediaDir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("virtual media dir %s: %w", dir, err)
	}
	imgs, err := vmedia.New(dir, nil, s.log)
	if err != nil {
		return err
	}
	s.media = imgs
	return nil
}

// isoPublisher is serve's bmc.ISOPublisher: a host's ISO holds its effective profile's
// stage1 kernel and initrd from the artifact store (the pinned CA is in the initrd) and
// the podboot.* parameters of its iPXE script, with its provisioningIp as a static
// address. The BMC fetches it from this replica's boot HTTPS URL on the pod's server
// address; the URL works for the host token's lifetime.
type isoPublisher struct {
	imgs  *vmedia.Images
	reg   *podmgr.Registry
	store *artifact.Store
	boot  *pxe.Service
}

// stage1 is what a host's ISO is made of.
type stage1 struct {
	pc             *podmgr.PodContext
	prof           podmgr.Profile
	kernel, initrd artifact.Artifact
}

// CheckISO says why the host cannot have an ISO (bmc.ISOPublisher).
func (p *isoPublisher) CheckISO(h podmgr.Host) error {
	s, err := p.stage1(h)
	if err != nil {
		return err
	}
	_, err = p.cmdline(h, s, "")
	return err
}

func (p *isoPublisher) stage1(h podmgr.Host) (stage1, error) {
	pc, ok := p.reg.Pod(h.Pod)
	if !ok {
		return stage1{}, fmt.Errorf("host %s: %w: pod %s", h.MAC, podmgr.ErrNotFound, h.Pod)
	}
	prof, ok := p.reg.EffectiveProfile(h)
	if !ok {
		prof = pc.Profile
	}
	if prof.Kernel == "" || prof.Initrd == "" {
		return stage1{}, fmt.Errorf("%w: host %s: profile %q has no stage1 kernel and initrd for its ISO", podmgr.ErrInvalid, h.MAC, prof.Name)
	}
	s := stage1{pc: pc, prof: prof}
	for _, f := range []struct {
		ref string
		out *artifact.Artifact
	}{{prof.Kernel, &s.kernel}, {prof.Initrd, &s.initrd}} {
		a, ok := p.store.Resolve(f.ref)
		if !ok {
			return stage1{}, fmt.Errorf("%w: host %s: profile %q names %s, which is not in the artifact store", podmgr.ErrInvalid, h.MAC, prof.Name, f.ref)
		}
		*f.out = a
	}
	return s, nil
}

func (p *isoPublisher) cmdline(h podmgr.Host, s stage1, token string) (string, error) {
	self, all := p.boot.AgentURLs(s.pc.Pod.ServerAddress)
	c, err := vmedia.Cmdline(vmedia.Boot{Pod: s.pc.Pod, Host: h, KernelArgs: s.prof.KernelArgs,
		ServerURL: self, ServerURLs: all, Token: token})
	if err != nil {
		return "", fmt.Errorf("%w: %w", podmgr.ErrInvalid, err)
	}
	return c, nil
}

// PublishISO builds the host's ISO around token (bmc.ISOPublisher).
func (p *isoPublisher) PublishISO(_ context.Context, h podmgr.Host, token string) (string, error) {
	s, err := p.stage1(h)
	if err != nil {
		return "", err
	}
	c, err := p.cmdline(h, s, token)
	if err != nil {
		return "", err
	}
	kernel, err := p.store.OpenBlob(s.kernel.Digest)
	if err != nil {
		return "", fmt.Errorf("host %s: stage1 kernel %s: %w", h.MAC, s.kernel.Ref(), err)
	}
	defer kernel.Close()
	initrd, err := p.store.OpenBlob(s.initrd.Digest)
	if err != nil {
		return "", fmt.Errorf("host %s: stage1 initrd %s: %w", h.MAC, s.initrd.Ref(), err)
	}
	defer initrd.Close()
	path, err := p.imgs.Publish(h.MAC, stage1iso.Spec{Kernel: kernel.Name(), Initrd: initrd.Name(), Cmdline: c,
		Loaders: stage1iso.DebianLoaders()}, podmgr.DefaultHostTokenTTL)
	if err != nil {
		return "", err
	}
	self, _ := p.boot.AgentURLs(s.pc.Pod.ServerAddress)
	return self + path, nil
}

// WithdrawISO ends the host's ISO URL (bmc.ISOPublisher).
func (p *isoPublisher) WithdrawISO(mac string) { p.imgs.Withdraw(mac) }

// HasISO says whether the host has an ISO out (bmc.ISOPublisher).
func (p *isoPublisher) HasISO(mac string) bool { return p.imgs.Published(mac) }
