package storm

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/podboot/podboot/pkg/agent"
	"github.com/podboot/podboot/pkg/agent/kickstart"
	"github.com/podboot/podboot/pkg/agentproto"
)

// Stages of one boot, in order; each is timed from the end of the one before.
const (
	StageDHCPPXE   = "dhcp_pxe"   // the PXE ROM's DORA
	StageTFTP      = "tftp"       // the bootloader over TFTP
	StageDHCPIPXE  = "dhcp_ipxe"  // iPXE's DORA
	StageScript    = "script"     // the iPXE script over HTTP (brings the token)
	StageKernel    = "kernel"     // stage1 kernel over HTTP
	StageInitrd    = "initrd"     // stage1 initrd over HTTP
	StageDHCPAgent = "dhcp_agent" // the agent's DORA
	StageBooted    = "booted"     // agent.booted and agent.network events
	StageChainload = "chainload"  // chain-load descriptor, inventory
	StageStage2    = "stage2"     // stage2 download and signature verification
	StageKickstart = "kickstart"  // kickstart (parsed), bash package
	StageInstalled = "installed"  // the installed call-back
)

// Stages lists the stage names in boot order.
var Stages = []string{StageDHCPPXE, StageTFTP, StageDHCPIPXE, StageScript, StageKernel, StageInitrd,
	StageDHCPAgent, StageBooted, StageChainload, StageStage2, StageKickstart, StageInstalled}

// Result is one host's boot.
type Result struct {
	MAC    string
	Pod    string
	Start  time.Time
	Stages map[string]time.Duration
	// Total is from the first DISCOVER to the installed call-back's answer.
	Total time.Duration
	// FailedStage and Err are set when the boot stopped.
	FailedStage string
	Err         string
	// DHCPRetries counts retransmitted DHCP packets; Resumes interrupted stage2 downloads.
	DHCPRetries int
	Resumes     int
}

// hostEnv is what every simulated host shares.
type hostEnv struct {
	server netip.Addr
	roots  *x509.CertPool
	relays map[string]*relay
	log    *slog.Logger
}

// boot plays one host from power-on to installed.
func (e *hostEnv) boot(ctx context.Context, h Host) Result {
	res := Result{MAC: h.MAC, Pod: h.Pod.Name, Start: time.Now(), Stages: map[string]time.Duration{}}
	last := res.Start
	step := func(stage string, f func() error) bool {
		if res.FailedStage != "" {
			return false
		}
		if err := f(); err != nil {
			res.FailedStage, res.Err = stage, err.Error()
			return false
		}
		now := time.Now()
		res.Stages[stage] = now.Sub(last)
		last = now
		return true
	}
	mac, _ := net.ParseMAC(h.MAC)
	r := e.relays[h.Pod.Name]
	src := h.Pod.Source // behind the site's NAT, every connection comes from here
	hc := bootHTTP(src)
	defer hc.CloseIdleConnections()

	var l lease
	var sc script
	dora := func(kind clientKind) func() error {
		return func() error {
			var err error
			l, err = r.dora(ctx, mac, kind)
			res.DHCPRetries += l.retries
			return err
		}
	}
	step(StageDHCPPXE, dora(kindPXE))
	step(StageTFTP, func() error {
		if l.bootFile == "" {
			return fmt.Errorf("ACK for %s names no boot file", l.addr)
		}
		_, err := fetchTFTP(netip.AddrPortFrom(e.server, 69), src, l.bootFile)
		return err
	})
	step(StageDHCPIPXE, dora(kindIPXE))
	step(StageScript, func() error {
		var b bytes.Buffer
		if _, err := httpGet(ctx, hc, l.bootFile, &b); err != nil {
			return err
		}
		var err error
		sc, err = parseScript(b.Bytes())
		return err
	})
	step(StageKernel, func() error { _, err := httpGet(ctx, hc, sc.kernel, io.Discard); return err })
	step(StageInitrd, func() error { _, err := httpGet(ctx, hc, sc.initrd, io.Discard); return err })
	step(StageDHCPAgent, dora(kindAgent))
	if res.FailedStage != "" {
		return res
	}
	p, err := agent.ParseCmdline(sc.cmdline)
	if err != nil {
		res.FailedStage, res.Err = StageBooted, err.Error()
		return res
	}
	c := agent.NewClient(p, e.roots, e.log.With("pod", h.Pod.Name, "host", h.MAC))
	c.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 30 * time.Second})
	defer c.CloseIdleConnections()
	e.agent(ctx, c, step, &res, l.addr)
	if res.FailedStage == "" {
		res.Total = time.Since(res.Start)
	} else if step, ok := failStep[res.FailedStage]; ok {
		// As the agent does: tell the server where the install stopped.
		if err := c.Post(ctx, agentproto.FailedPath, agentproto.Failure{Step: step, Reason: res.Err}); err != nil {
			e.log.Warn("could not report the failure", "pod", h.Pod.Name, "host", h.MAC, "err", err)
		}
	}
	return res
}

// failStep is the step the agent names in its failed call, by the stage that failed;
// it makes no call for the others (nothing to report with, or the call-back failed).
var failStep = map[string]string{StageChainload: agentproto.ActionChainload, StageStage2: agentproto.ActionVerified, StageKickstart: agentproto.ActionKickstart}

// agent plays the stage1 agent with its own client and stage2 code.
func (e *hostEnv) agent(ctx context.Context, c *agent.Client, step func(string, func() error) bool, res *Result, addr netip.Addr) {
	var d agentproto.Chainload
	var s2 agent.Stage2Result
	var ks *kickstart.Kickstart
	// Events go through the agent's Report: retried, never fatal, as on a real host.
	step(StageBooted, func() error {
		c.Report(ctx, agentproto.ActionBooted, "bench/storm simulated agent")
		c.Report(ctx, agentproto.ActionNetwork, "addr="+addr.String())
		return nil
	})
	step(StageChainload, func() error {
		if err := c.GetJSON(ctx, agentproto.ChainloadPath, &d); err != nil {
			return fmt.Errorf("fetch chain-load descriptor: %w", err)
		}
		if err := c.Post(ctx, agentproto.InventoryPath, inventory(res.MAC)); err != nil {
			e.log.Warn("could not report the inventory", "pod", res.Pod, "host", res.MAC, "err", err) // as the agent: not fatal
		}
		c.Report(ctx, agentproto.ActionChainload, fmt.Sprintf("stage2 %s (%d bytes) to /dev/vda", d.Ref, d.Size))
		return nil
	})
	step(StageStage2, func() error {
		var err error
		s2, err = agent.Stage2(ctx, c, d, discardDisk{}, e.roots, time.Now(), e.log)
		res.Resumes = s2.Resumes
		if err != nil {
			return err
		}
		c.Report(ctx, agentproto.ActionVerified, fmt.Sprintf("signature good: signer %q, sha256 %s", s2.Signer, s2.SHA256))
		return nil
	})
	step(StageKickstart, func() error {
		raw, err := c.GetBytes(ctx, agentproto.KickstartPath, kickstart.MaxSize)
		if err != nil {
			return fmt.Errorf("fetch kickstart: %w", err)
		}
		if ks, err = kickstart.Parse(bytes.NewReader(raw)); err != nil {
			return err
		}
		resp, err := c.Get(ctx, agentproto.PackagePath, nil)
		if err != nil {
			return fmt.Errorf("fetch bash package: %w", err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("read bash package: %w", err)
		}
		c.Report(ctx, agentproto.ActionKickstart, fmt.Sprintf("parsed: networks=%d ssh-keys=%d (not applied: simulated host)", len(ks.Networks), len(ks.SSHKeys)))
		return nil
	})
	step(StageInstalled, func() error {
		return c.Installed(ctx, agentproto.Installed{Disk: "vda", SHA256: s2.SHA256, Finish: ks.Finish})
	})
}

// discardDisk is the simulated host's disk: stage2 is hashed and verified, not kept.
type discardDisk struct{}

func (discardDisk) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (discardDisk) Sync() error                            { return nil }

// inventory is a plain virtual machine's: one NIC, one 64 GB disk.
func inventory(mac string) agentproto.Inventory {
	return agentproto.Inventory{
		System:      agentproto.System{Vendor: "podboot", Product: "bench/storm"},
		CPU:         agentproto.CPU{Model: "simulated", Count: 2},
		MemoryBytes: 4 << 30,
		Disks:       []agentproto.Disk{{Name: "vda", SizeBytes: 64e9, Bus: "virtio"}},
		NICs:        []agentproto.NIC{{Name: "eth0", MAC: mac, Driver: "virtio_net", Link: true}},
	}
}
