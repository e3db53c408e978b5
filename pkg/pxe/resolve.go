package pxe

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/podmgr"
)

// bootPath is a parsed POD/MAC/FILE.
type bootPath struct {
	pod  string
	mac  string // normalised
	file string // artifact name, name@version, or the script name
	sig  bool   // FILE.p7s: the detached signature of FILE
}

// refusal is why a request gets "not found"; the text is the metric and log reason,
// never sent to the client.
type refusal string

const (
	refusePath       refusal = "path"       // malformed, traversal, absolute
	refusePod        refusal = "pod"        // no such pod
	refuseHost       refusal = "host"       // no such host, or not in this pod
	refuseNetboot    refusal = "netboot"    // netboot is off
	refuseSource     refusal = "source"     // not from the host's leased address
	refuseOnboarding refusal = "onboarding" // the pod does not reference this file
	refuseMissing    refusal = "missing"    // referenced but not in the store
)

const sigSuffix = ".p7s"

// parseBootPath parses the part after the protocol prefix: exactly POD/MAC/FILE, each a
// strict name. The file is never joined to a file-system path.
func parseBootPath(p string) (bootPath, bool) {
	if p == "" || p[0] == '/' || strings.ContainsAny(p, "\\\x00") {
		return bootPath{}, false
	}
	parts := strings.Split(p, "/")
	if len(parts) != 3 {
		return bootPath{}, false
	}
	if podmgr.ValidName("pod", parts[0]) != nil {
		return bootPath{}, false
	}
	mac, err := podmgr.MACFromPath(parts[1])
	if err != nil {
		return bootPath{}, false
	}
	bp := bootPath{pod: parts[0], mac: mac, file: parts[2]}
	if bp.file == podmgr.ScriptName {
		return bp, true
	}
	if f, ok := strings.CutSuffix(bp.file, sigSuffix); ok {
		if f == podmgr.ScriptName {
			return bootPath{}, false // scripts are rendered, never signed
		}
		bp.file, bp.sig = f, true
	}
	if _, _, err := artifact.ParseRef(bp.file); err != nil {
		return bootPath{}, false
	}
	return bp, true
}

// target is what a request resolved to.
type target struct {
	pc   *podmgr.PodContext
	host podmgr.Host
	prof podmgr.Profile
}

// gate checks the host part of a request: pod, host, netboot, source address. It
// returns the target even when netboot is off (refuseNetboot), so the script endpoint
// can answer with a local-boot script.
func (s *Service) gate(bp bootPath, src netip.Addr) (target, refusal) {
	pc, ok := s.reg.Pod(bp.pod)
	if !ok {
		return target{}, refusePod
	}
	h, ok := s.reg.Host(bp.mac)
	if !ok || h.Pod != bp.pod {
		return target{pc: pc}, refuseHost
	}
	prof, ok := s.reg.EffectiveProfile(h)
	if !ok {
		prof = pc.Profile
	}
	t := target{pc: pc, host: h, prof: prof}
	if !pc.Pod.NAT && !s.sourceAllowed(h, src) {
		return t, refuseSource
	}
	if !h.Netboot {
		return t, refuseNetboot
	}
	return t, ""
}

// sourceAllowed: the request must come from the host's reserved address or, for a
// dynamic lease, the address the DHCP service leased to it.
func (s *Service) sourceAllowed(h podmgr.Host, src netip.Addr) bool {
	src = src.Unmap()
	if !src.IsValid() {
		return false
	}
	if h.ProvisioningIP != "" {
		if a, err := netip.ParseAddr(h.ProvisioningIP); err == nil && a == src {
			return true
		}
	}
	if s.cfg.LeaseIP != nil {
		if a, ok := s.cfg.LeaseIP(h.Pod, h.MAC); ok && a.Unmap() == src {
			return true
		}
	}
	return false
}

// profileRefs lists the artifact references a profile makes, for one host (its
// bootloader overrides apply) or for the pod (h zero).
func profileRefs(h podmgr.Host, p podmgr.Profile) []string {
	refs := make([]string, 0, 7)
	for _, k := range []podmgr.Firmware{podmgr.FirmwareBIOS, podmgr.FirmwareEFIx64, podmgr.FirmwareEFIARM64} {
		refs = append(refs, podmgr.BootFile(h, p, k))
	}
	if p.SecureBoot == podmgr.SecureBootDistro {
		refs = append(refs, podmgr.GrubName) // shim's second stage
	}
	return append(refs, p.Kernel, p.Initrd, p.Stage2, p.BashPackage)
}

// errNotOnboarded and errMissing separate the two artifact refusals.
var (
	errNotOnboarded = errors.New("not onboarded")
	errMissing      = errors.New("missing")
)

// artifactFor resolves FILE for a host: the first reference, in order of the host's
// profile, the pod's profile, the pod's Artifacts and the profiles of the pod's other
// hosts, whose name (or name@version) is FILE. Only referenced files exist for a pod.
func (s *Service) artifactFor(t target, file string) (artifact.Artifact, error) {
	try := func(refs []string) (artifact.Artifact, bool, error) {
		for _, ref := range refs {
			if ref == "" || !refNames(ref, file) {
				continue
			}
			a, ok := s.store.Resolve(ref)
			if !ok {
				return artifact.Artifact{}, true, errMissing
			}
			if strings.Contains(file, "@") && a.Ref() != file {
				continue
			}
			return a, true, nil
		}
		return artifact.Artifact{}, false, nil
	}
	lists := [][]string{profileRefs(t.host, t.prof), profileRefs(podmgr.Host{}, t.pc.Profile), t.pc.Pod.Artifacts}
	for _, refs := range lists {
		if a, found, err := try(refs); found {
			return a, err
		}
	}
	// Rare: another host of the pod with its own profile references it. Only the hosts
	// whose references name the file are copied, in MAC order.
	for _, o := range s.reg.HostProfilesOfPod(t.pc.Pod.Name, func(h podmgr.Host, p podmgr.Profile) bool {
		return h.MAC != t.host.MAC && refsName(profileRefs(h, p), file)
	}) {
		if a, found, err := try(profileRefs(o.Host, o.Profile)); found {
			return a, err
		}
	}
	return artifact.Artifact{}, errNotOnboarded
}

// refsName reports whether any of refs can be fetched as file.
func refsName(refs []string, file string) bool {
	return slices.ContainsFunc(refs, func(ref string) bool { return ref != "" && refNames(ref, file) })
}

// refNames reports whether a reference (name or name@version) can be fetched as file
// (name, or name@version).
func refNames(ref, file string) bool {
	rname, _, _ := strings.Cut(ref, "@")
	fname, fver, hasVer := strings.Cut(file, "@")
	if rname != fname {
		return false
	}
	if !hasVer {
		return true
	}
	_, rver, rHasVer := strings.Cut(ref, "@")
	return !rHasVer || rver == fver
}

func artifactRefusal(err error) refusal {
	if errors.Is(err, errMissing) {
		return refuseMissing
	}
	return refuseOnboarding
}
